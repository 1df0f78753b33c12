//! RDS IAM database authentication for the PostgreSQL connections of a mapping: with
//! `--aws-iam-auth`, every URL that carries no password gets a fresh IAM token as its
//! password (tokens from `pgsplit_rds::iam_auth_token`, the SDK's credential chain).

use pgsplit_engine::mapping::Mapping;
use pgsplit_pg::{ConnSettings, Host, Secret, SslMode};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct IamArgs {
    /// Log in to RDS with IAM tokens instead of passwords: URLs without a password get a
    /// token (valid 15 minutes, so connections opened later in a long run can fail).
    #[arg(long, global = true)]
    pub aws_iam_auth: bool,
    /// Region of the databases for IAM tokens (default: from an RDS host name, else
    /// AWS_REGION).
    #[arg(long, global = true, value_name = "REGION")]
    pub aws_region: Option<String>,
    /// AWS profile for IAM tokens (default: AWS_PROFILE or the default chain).
    #[arg(long, global = true, value_name = "NAME")]
    pub aws_profile: Option<String>,
}

/// The region in an RDS endpoint name: `db.abc123.eu-west-1.rds.amazonaws.com`.
fn region_of(host: &str) -> Option<&str> {
    let labels: Vec<&str> = host.split('.').collect();
    let rds = labels.iter().position(|l| *l == "rds")?;
    (rds >= 1).then(|| labels[rds - 1])
}

async fn token_for(settings: &mut ConnSettings, args: &IamArgs) -> anyhow::Result<()> {
    if settings.password.is_some() {
        return Ok(());
    }
    let (host, port) = settings.primary();
    let Host::Tcp(name) = host else {
        anyhow::bail!(crate::UsageError(format!(
            "--aws-iam-auth needs a TCP host name, not a socket: {settings}"
        )));
    };
    if matches!(settings.sslmode, SslMode::Disable | SslMode::Allow) {
        tracing::warn!(
            "{settings}: RDS accepts IAM tokens only over TLS; sslmode is {}",
            settings.sslmode.as_str()
        );
    }
    let region = args.aws_region.as_deref().or_else(|| region_of(name));
    let aws = pgsplit_rds::AwsSettings {
        profile: args.aws_profile.clone(),
        ..Default::default()
    };
    let token = pgsplit_rds::iam_auth_token(name, port, &settings.user, region, &aws)
        .await
        .map_err(|e| anyhow::anyhow!("IAM token for {settings}: {e}"))?;
    settings.password = Some(Secret::new(token));
    Ok(())
}

/// Fills in IAM tokens when `--aws-iam-auth` is given.
pub async fn apply(mapping: &mut Mapping, args: &IamArgs) -> anyhow::Result<()> {
    if !args.aws_iam_auth {
        return Ok(());
    }
    for line in &mut mapping.lines {
        token_for(&mut line.source, args).await?;
        token_for(&mut line.target, args).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::region_of;

    #[test]
    fn region_from_rds_host_names() {
        assert_eq!(
            region_of("shop.c9akciq32.eu-west-1.rds.amazonaws.com"),
            Some("eu-west-1")
        );
        assert_eq!(region_of("localhost"), None);
        assert_eq!(region_of("rds.example.com"), None);
    }
}
