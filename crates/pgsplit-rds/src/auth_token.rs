//! IAM database authentication: a short-lived token used as the PostgreSQL password for
//! an RDS user granted `rds_iam`.

use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config};

use crate::clients::sdk_config;
use crate::error::{Error, Result};
use crate::options::AwsSettings;

/// Lifetime of a token, in seconds: RDS's maximum (15 minutes). A connection opened with a
/// token outlives it; only new connections need a fresh one.
pub const TOKEN_LIFETIME_SECS: u64 = 900;

/// Creates an IAM auth token for `user@host:port`, signed with the default credential chain
/// (or `aws.profile` / `aws.credentials`) for `region` (default: the SDK's region). Use it as
/// the password, over TLS.
pub async fn iam_auth_token(
    host: &str,
    port: u16,
    user: &str,
    region: Option<&str>,
    aws: &AwsSettings,
) -> Result<String> {
    let fail = |source| Error::AuthToken {
        host: host.to_owned(),
        port,
        user: user.to_owned(),
        source,
    };
    let sdk = sdk_config(aws, region).await?;
    let region = sdk.region().cloned().ok_or(Error::NoRegion {
        which: "IAM auth token",
    })?;
    let config = Config::builder()
        .hostname(host)
        .port(u64::from(port))
        .username(user)
        .region(region)
        .expires_in(TOKEN_LIFETIME_SECS)
        .build()
        .map_err(fail)?;
    let token = AuthTokenGenerator::new(config)
        .auth_token(&sdk)
        .await
        .map_err(fail)?;
    Ok(token.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::config::{Credentials, SharedCredentialsProvider};

    use super::*;

    fn settings() -> AwsSettings {
        AwsSettings {
            credentials: Some(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))),
            ..AwsSettings::default()
        }
    }

    #[tokio::test]
    async fn token_is_a_presigned_connect_url() {
        let token = iam_auth_token(
            "db1.abc.eu-west-1.rds.amazonaws.com",
            5432,
            "app_user",
            Some("eu-west-1"),
            &settings(),
        )
        .await
        .unwrap();
        assert!(
            token.starts_with(
                "db1.abc.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=app_user&"
            ),
            "{token}"
        );
        assert!(!token.starts_with("https://"), "{token}");
        assert!(
            token.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"),
            "{token}"
        );
        assert!(
            token.contains("%2Feu-west-1%2Frds-db%2Faws4_request"),
            "credential scope names region and service: {token}"
        );
        assert!(token.contains("X-Amz-Expires=900"), "{token}");
        assert!(token.contains("X-Amz-Signature="), "{token}");
        assert!(!token.contains("secret"), "{token}");
    }

    #[tokio::test]
    async fn tokens_differ_by_user() {
        let a = iam_auth_token("h", 5432, "a", Some("us-east-1"), &settings())
            .await
            .unwrap();
        let b = iam_auth_token("h", 5432, "b", Some("us-east-1"), &settings())
            .await
            .unwrap();
        assert_ne!(a, b);
    }
}
