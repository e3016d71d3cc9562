//! Rule identities: the built-in rule table and the index type shared by
//! built-in and user rules.

/// Index of a rule in a [`crate::Redactor`]'s rule table (built-ins first).
pub(crate) type RuleIdx = u16;

/// Built-in rules. The discriminant is the rule's index in the rule table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub(crate) enum Builtin {
    AwsAccessKeyId,
    AwsSecretAccessKey,
    GithubToken,
    GithubFineGrained,
    GitlabToken,
    SlackToken,
    SlackWebhook,
    StripeKey,
    GoogleApiKey,
    GoogleOauthToken,
    NpmToken,
    OpenaiKey,
    AnthropicKey,
    SendgridKey,
    AzureStorageKey,
    Jwt,
    BearerToken,
    BasicAuth,
    PrivateKey,
    GcpServiceAccountKey,
    AzureAdClientSecret,
    AzureSasSignature,
    AwsSessionToken,
    GcpOauthClientSecret,
    GcpRefreshToken,
    VaultToken,
    OpenshiftToken,
    GrafanaToken,
    DatadogApiKey,
    NewRelicKey,
    SentryToken,
    DatabricksToken,
    HuggingfaceToken,
    HerokuApiKey,
    OnePasswordToken,
    DigitaloceanToken,
    CloudflareApiToken,
    DopplerToken,
    PulumiToken,
    TerraformCloudToken,
    PlanetscaleToken,
    AgeSecretKey,
    TeamsWebhook,
    DiscordWebhook,
    AuthorizationHeader,
    CurlUserPassword,
    KubernetesSecretData,
    Base64PrivateKey,
    DockerConfigAuth,
    UrlPassword,
    SecretAssignment,
    HighEntropySecret,
}

/// `(id, description)` of every built-in rule, in [`Builtin`] order.
pub(crate) const BUILTIN_RULES: &[(&str, &str)] = &[
    (
        "aws-access-key-id",
        "AWS access key id (AKIA/ASIA/ABIA/ACCA + 16)",
    ),
    (
        "aws-secret-access-key",
        "AWS secret access key assigned to an aws_secret_access_key-style key",
    ),
    (
        "github-token",
        "GitHub classic/OAuth/app token (ghp_/gho_/ghu_/ghs_/ghr_), CRC32 checked",
    ),
    (
        "github-fine-grained-token",
        "GitHub fine-grained personal access token (github_pat_)",
    ),
    ("gitlab-token", "GitLab token (glpat-, gldt-, glrt-, ...)"),
    (
        "slack-token",
        "Slack token (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xapp-)",
    ),
    ("slack-webhook", "Slack incoming webhook path"),
    (
        "stripe-key",
        "Stripe secret/restricted key or webhook secret",
    ),
    ("google-api-key", "Google API key (AIza + 35)"),
    ("google-oauth-token", "Google OAuth access token (ya29.)"),
    ("npm-token", "npm access token (npm_ + 36)"),
    (
        "openai-api-key",
        "OpenAI-style API key (sk-, sk-proj-, ...)",
    ),
    ("anthropic-api-key", "Anthropic API key (sk-ant-)"),
    ("sendgrid-api-key", "SendGrid API key (SG.x.y)"),
    (
        "azure-storage-key",
        "Azure AccountKey=/SharedAccessKey= connection-string key",
    ),
    ("jwt", "JSON Web Token (eyJ header . payload . signature)"),
    ("bearer-token", "Authorization: Bearer credential"),
    (
        "basic-auth",
        "Authorization: Basic credential (base64 user:password)",
    ),
    (
        "private-key",
        "PEM private key block, across lines and chunks",
    ),
    (
        "gcp-service-account-key",
        "GCP service-account private_key JSON value",
    ),
    (
        "azure-ad-client-secret",
        "Azure AD (Entra ID) client secret (…8Q~…, 40 characters); masked from 8Q~",
    ),
    (
        "azure-sas-signature",
        "Azure shared access signature sig= parameter (base64 HMAC-SHA256, URL-encoded)",
    ),
    (
        "aws-session-token",
        "AWS STS session token (FwoGZXIvYXdz…/IQoJb3JpZ2lu…) under any key",
    ),
    (
        "gcp-oauth-client-secret",
        "Google OAuth client secret (GOCSPX- + 28)",
    ),
    ("gcp-refresh-token", "Google OAuth refresh token (1//0…)"),
    (
        "vault-token",
        "HashiCorp Vault token (hvs./hvb./hvr.; legacy s. next to a token key)",
    ),
    (
        "openshift-token",
        "OpenShift OAuth access token (sha256~ + 43)",
    ),
    (
        "grafana-token",
        "Grafana service-account (glsa_) or Grafana Cloud (glc_) token",
    ),
    (
        "datadog-api-key",
        "Datadog API/application key (32/40 hex next to a dd_/datadog key)",
    ),
    (
        "new-relic-key",
        "New Relic key (NRAK-, NRII-, NRIQ-, NRRA-, NRJS-; license key next to a New Relic key)",
    ),
    ("sentry-token", "Sentry auth token (sntrys_/sntryu_)"),
    (
        "databricks-token",
        "Databricks personal access token (dapi + 32 hex)",
    ),
    (
        "huggingface-token",
        "Hugging Face access token (hf_/api_org_ + 34)",
    ),
    (
        "heroku-api-key",
        "Heroku API key (HRKU-; a UUID next to a heroku key)",
    ),
    (
        "onepassword-token",
        "1Password service-account token (ops_eyJ…)",
    ),
    (
        "digitalocean-token",
        "DigitalOcean token (dop_v1_/doo_v1_/dor_v1_ + 64 hex)",
    ),
    (
        "cloudflare-api-token",
        "Cloudflare API token/global key next to a cloudflare/cf_ key",
    ),
    (
        "doppler-token",
        "Doppler token (dp.pt., dp.st., dp.sa., dp.ct., dp.scim., dp.audit.)",
    ),
    ("pulumi-token", "Pulumi access token (pul- + 40 hex)"),
    (
        "terraform-cloud-token",
        "Terraform Cloud/Enterprise token (….atlasv1.…); masked from .atlasv1.",
    ),
    (
        "planetscale-token",
        "PlanetScale token or password (pscale_tkn_/pscale_pw_/pscale_oauth_)",
    ),
    (
        "age-secret-key",
        "age encryption secret key (AGE-SECRET-KEY-1 + 58 bech32)",
    ),
    (
        "teams-webhook",
        "Microsoft Teams / Office 365 incoming webhook path",
    ),
    ("discord-webhook", "Discord webhook path"),
    (
        "authorization-header",
        "Authorization header credential of any scheme other than Bearer/Basic",
    ),
    (
        "curl-user-password",
        "password in curl -u/--user user:password",
    ),
    (
        "kubernetes-secret-data",
        "value under a Kubernetes Secret's data/stringData",
    ),
    (
        "base64-private-key",
        "base64-encoded PEM private key (kubeconfig client-key-data, Secret values)",
    ),
    (
        "docker-config-auth",
        "docker config auth value or base64 docker config JSON",
    ),
    (
        "url-password",
        "password embedded in a URL (scheme://user:password@host)",
    ),
    (
        "secret-assignment",
        "password/secret/credential-style key = value in text, JSON, YAML",
    ),
    (
        "high-entropy-secret",
        "high-entropy value assigned to a token/key-style key",
    ),
];

impl Builtin {
    /// The rule-table index.
    pub(crate) fn idx(self) -> RuleIdx {
        self as RuleIdx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_enum() {
        assert_eq!(BUILTIN_RULES.len(), Builtin::HighEntropySecret as usize + 1);
        assert_eq!(BUILTIN_RULES[Builtin::Jwt as usize].0, "jwt");
        assert_eq!(
            BUILTIN_RULES[Builtin::UrlPassword as usize].0,
            "url-password"
        );
    }
}
