//! RDS clients for the source and target regions, from the SDK's default chain plus
//! pgsplit's overrides (profile, endpoint, credentials).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_rds::Client;
use aws_types::service_config::ServiceConfigKey;

use crate::error::{Error, Result};
use crate::options::{AwsSettings, endpoint_problem};

/// The two clients a migration uses. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Clients {
    /// Client in the source region.
    pub source: Client,
    /// Client in the target region.
    pub target: Client,
    /// The source region, resolved.
    pub source_region: String,
    /// The target region.
    pub target_region: String,
}

/// Loads the SDK configuration for `region` (or the default chain's region when `None`).
/// An endpoint from the environment or the profile (`AWS_ENDPOINT_URL_RDS`,
/// `AWS_ENDPOINT_URL`, `endpoint_url`) is held to `--endpoint-url`'s rules.
pub async fn sdk_config(aws: &AwsSettings, region: Option<&str>) -> Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(profile) = &aws.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(url) = &aws.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(credentials) = &aws.credentials {
        loader = loader.credentials_provider(credentials.clone());
    }
    let config = loader.load().await;
    let rds = ServiceConfigKey::builder()
        .service_id("RDS")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok();
    let configured = config
        .service_config()
        .zip(rds)
        .and_then(|(c, key)| c.load_config(key));
    let endpoints = configured
        .iter()
        .map(String::as_str)
        .chain(config.endpoint_url());
    for endpoint in endpoints {
        if let Some(reason) = endpoint_problem(endpoint) {
            return Err(Error::InvalidOption {
                option: "endpoint (AWS_ENDPOINT_URL_RDS, AWS_ENDPOINT_URL or the profile's endpoint_url)",
                reason: reason.to_owned(),
            });
        }
    }
    Ok(config)
}

/// Builds both clients; the source region defaults to the SDK's (`AWS_REGION`, profile).
pub async fn connect(
    aws: &AwsSettings,
    source_region: Option<&str>,
    target_region: &str,
) -> Result<Clients> {
    let source_config = sdk_config(aws, source_region).await?;
    let source_region = source_config
        .region()
        .map(|r| r.as_ref().to_owned())
        .ok_or(Error::NoRegion { which: "source" })?;
    let target_config = sdk_config(aws, Some(target_region)).await?;
    Ok(Clients {
        source: Client::new(&source_config),
        target: Client::new(&target_config),
        source_region,
        target_region: target_region.to_owned(),
    })
}
