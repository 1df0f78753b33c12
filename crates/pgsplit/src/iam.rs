//! RDS IAM database authentication for the PostgreSQL connections of a mapping: with
//! `--aws-iam-auth`, every URL that carries no password logs in with an IAM token
//! (from `pgsplit_rds::iam_auth_token`, the SDK's credential chain). Tokens expire 15
//! minutes after they are made, so each new connection asks for one; a token is made
//! again once it is [`TOKEN_REUSE`] old.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pgsplit_engine::mapping::Mapping;
use pgsplit_pg::{ConnSettings, Host, PasswordSource, Secret, SslMode};
use pgsplit_rds::AwsSettings;

/// How long one token serves new connections (RDS accepts it for 15 minutes).
const TOKEN_REUSE: Duration = Duration::from_secs(5 * 60);

#[derive(clap::Args, Debug, Clone, Default)]
pub struct IamArgs {
    /// Log in to RDS with IAM tokens instead of passwords: URLs without a password get a
    /// token, made anew for connections opened later in a long run.
    #[arg(long, global = true, help_heading = "Global options")]
    pub aws_iam_auth: bool,
    /// Region of the databases for IAM tokens (default: from an RDS host name, else
    /// AWS_REGION).
    #[arg(
        long,
        global = true,
        value_name = "REGION",
        help_heading = "Global options"
    )]
    pub aws_region: Option<String>,
    /// AWS profile for IAM tokens (default: AWS_PROFILE or the default chain).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        help_heading = "Global options"
    )]
    pub aws_profile: Option<String>,
}

/// The region in an RDS endpoint name: `db.abc123.eu-west-1.rds.amazonaws.com`.
fn region_of(host: &str) -> Option<&str> {
    let labels: Vec<&str> = host.split('.').collect();
    let rds = labels.iter().position(|l| *l == "rds")?;
    (rds >= 1).then(|| labels[rds - 1])
}

/// Makes the tokens of one user on one server, keeping the last for [`TOKEN_REUSE`].
struct TokenMaker {
    host: String,
    port: u16,
    user: String,
    region: Option<String>,
    aws: AwsSettings,
    /// The redacted URL, for messages.
    server: String,
    /// [`TOKEN_REUSE`], shorter in tests.
    reuse: Duration,
    last: tokio::sync::Mutex<Option<(Instant, Secret)>>,
}

impl TokenMaker {
    async fn token(&self) -> Result<Secret, String> {
        let mut last = self.last.lock().await;
        if let Some((made, token)) = &*last
            && made.elapsed() < self.reuse
        {
            return Ok(token.clone());
        }
        let region = self.region.as_deref();
        let token =
            pgsplit_rds::iam_auth_token(&self.host, self.port, &self.user, region, &self.aws)
                .await
                .map_err(|e| format!("IAM token for {}: {e}", self.server))?;
        let token = Secret::new(token);
        *last = Some((Instant::now(), token.clone()));
        Ok(token)
    }
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
    let maker = Arc::new(TokenMaker {
        host: name.clone(),
        port,
        user: settings.user.clone(),
        region: args
            .aws_region
            .clone()
            .or_else(|| region_of(name).map(str::to_owned)),
        aws: AwsSettings {
            profile: args.aws_profile.clone(),
            ..Default::default()
        },
        server: settings.to_string(),
        reuse: TOKEN_REUSE,
        last: tokio::sync::Mutex::new(None),
    });
    // The first token now: a failure is reported before anything is written.
    settings.password = Some(maker.token().await.map_err(anyhow::Error::msg)?);
    settings.password_source = Some(PasswordSource::new(move || {
        let maker = Arc::clone(&maker);
        async move { maker.token().await }
    }));
    Ok(())
}

/// Fills in IAM tokens when `--aws-iam-auth` is given.
pub async fn apply(mapping: &mut Mapping, args: &IamArgs) -> anyhow::Result<()> {
    for line in &mut mapping.lines {
        apply_to(&mut line.source, args).await?;
        apply_to(&mut line.target, args).await?;
    }
    Ok(())
}

/// The same for one URL.
pub async fn apply_to(settings: &mut ConnSettings, args: &IamArgs) -> anyhow::Result<()> {
    if !args.aws_iam_auth {
        return Ok(());
    }
    token_for(settings, args).await
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::config::{Credentials, SharedCredentialsProvider};

    use super::*;

    fn maker(reuse: Duration) -> TokenMaker {
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        TokenMaker {
            host: "shop.c9akciq32.eu-west-1.rds.amazonaws.com".into(),
            port: 5432,
            user: "app".into(),
            region: Some("eu-west-1".into()),
            aws: AwsSettings {
                credentials: Some(SharedCredentialsProvider::new(credentials)),
                ..AwsSettings::default()
            },
            server: "postgres://app@shop.c9akciq32.eu-west-1.rds.amazonaws.com/shop".into(),
            reuse,
            last: tokio::sync::Mutex::new(None),
        }
    }

    #[tokio::test]
    async fn a_token_serves_new_connections_until_it_is_old() {
        let young = maker(TOKEN_REUSE);
        let first = young.token().await.unwrap();
        assert!(
            first.expose().starts_with(
                "shop.c9akciq32.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=app&"
            ),
            "{}",
            first.expose()
        );
        *young.last.lock().await = Some((Instant::now(), Secret::new("kept")));
        assert_eq!(young.token().await.unwrap().expose(), "kept");

        let old = maker(Duration::ZERO);
        *old.last.lock().await = Some((Instant::now(), Secret::new("expired")));
        let made = old.token().await.unwrap();
        assert!(
            made.expose().contains("X-Amz-Signature="),
            "{}",
            made.expose()
        );
    }

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
