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
