//! Detectors: trigger literals searched as one leftmost-longest set (`sparse.rs`),
//! and one verifier per detector that decides a trigger hit.
//!
//! A verifier sees a [`Hay`] and the hit, reads at most [`Detectors::back_context`]
//! bytes before the hit and at most its `window` bytes after it, and answers
//! `Ok(Some(found))`, `Ok(None)` or `Err(NeedMore)`. A verifier never answers
//! differently on a prefix of the stream than on the whole stream; given its
//! whole window it always decides. Those two properties are what the stream
//! relies on (see `redact/DESIGN.md`).

mod assign;
mod encoded;
mod header;
mod keyed;
mod placeholder;
mod prefixes;
mod rare;
mod sparse;
mod structured;
mod token;
mod user;
mod vendor;

use regex::bytes::Regex;

use crate::hay::{Hay, NeedMore};
use crate::rules::{Builtin, RuleIdx};
use prefixes::TriggerPrefixes;
use sparse::Triggers;
pub(crate) use sparse::{FindCache, Hit};
pub use structured::PEM_MAX;
pub(crate) use user::UserRule;

/// A verified secret span, in haystack coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) rule: RuleIdx,
}

/// A verifier's decision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Verdict {
    pub(crate) found: Option<Found>,
    /// Further spans of the same hit (the values of a Secret's data maps). Unlike `found`,
    /// the scan does not resume after them: triggers between them are still examined.
    pub(crate) more: Vec<Found>,
    /// End of a value the assignment detector parsed: later assignment
    /// triggers before it are inside that value and are not examined.
    pub(crate) assign_skip: Option<usize>,
    /// The hit was no trigger (its anchor lacks the prefix it stands for): the scan resumes
    /// one byte after its start, so a trigger overlapping the anchor is still found.
    pub(crate) rescan: bool,
}

/// What a trigger literal asks to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detector {
    AwsKeyId,
    Github,
    GithubFine,
    Gitlab,
    Slack,
    SlackWebhook,
    Stripe,
    GoogleApiKey,
    GoogleOauth,
    Npm,
    SkDash,
    Sendgrid,
    Jwt,
    Bearer,
    Basic,
    Pem,
    UrlPassword,
    Assignment,
    Vendor(Builtin),
    Authorization,
    Curl,
    DataMap,
    SecretKind,
    Base64Pem,
    DockerAuth,
    User(u16),
}

/// Trigger literals of the assignment detector, in the case forms keys are
/// written in (`password`, `Password` in camelCase, `PASSWORD` in env vars).
///
/// Built-in triggers are kept at or under 64 literals in total: up to 64,
/// Aho-Corasick uses its SIMD (Teddy) prefilter and scans clean text about
/// four times faster (see `redact/DESIGN.md`).
const ASSIGN_KEYWORDS: &[&str] = &[
    "passw",
    "Passw",
    "PASSW",
    "pwd",
    "Pwd",
    "PWD",
    "passphrase",
    "secret",
    "Secret",
    "SECRET",
    "token",
    "Token",
    "TOKEN",
    "credential",
    "CREDENTIAL",
    "apikey",
    "Apikey",
    "APIKEY",
    "_key",
    "_KEY",
    "-key",
    "-KEY",
    "Key",
];

fn builtin_triggers() -> Vec<(Vec<u8>, Detector)> {
    use Detector::*;
    let mut t: Vec<(Vec<u8>, Detector)> = Vec::new();
    let mut add =
        |lits: &[&str], d: Detector| t.extend(lits.iter().map(|l| (l.as_bytes().to_vec(), d)));
    add(&["AKIA", "ASIA", "ABIA", "ACCA"], AwsKeyId);
    add(&["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], Github);
    add(&["github_pat_"], GithubFine);
    add(
        &[
            "glpat-", "gldt-", "glrt-", "glptt-", "glsoat-", "glft-", "glimt-", "glcbt-", "gloas-",
        ],
        Gitlab,
    );
    add(&["xox", "xapp-"], Slack);
    add(&["hooks.slack.com/services/"], SlackWebhook);
    add(
        &["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"],
        Stripe,
    );
    add(&["AIza"], GoogleApiKey);
    add(&["ya29."], GoogleOauth);
    add(&["npm_"], Npm);
    add(&["sk-"], SkDash);
    add(&["SG."], Sendgrid);
    add(&["eyJ"], Jwt);
    add(&["Bearer ", "bearer "], Bearer);
    add(&["Basic ", "basic "], Basic);
    add(&["-----BEGIN "], Pem);
    add(&["://"], UrlPassword);
    add(ASSIGN_KEYWORDS, Assignment);
    t
}

/// `kw` as written, lower, Title and UPPER case, without duplicates.
fn case_forms(kw: &str) -> Vec<String> {
    let lower = kw.to_ascii_lowercase();
    let mut title = lower.clone();
    if let Some(first) = title.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    let mut forms = vec![kw.to_string(), lower, title, kw.to_ascii_uppercase()];
    forms.sort();
    forms.dedup();
    forms
}

fn window(d: Detector, pattern_len: usize, user: &[UserRule]) -> usize {
    use Detector::*;
    let w = match d {
        AwsKeyId | Github | Npm | GoogleApiKey | Sendgrid | Gitlab | Slack | Stripe | SkDash => {
            pattern_len + 260
        }
        GithubFine => pattern_len + 84,
        SlackWebhook => pattern_len + 122,
        GoogleOauth => pattern_len + token::MAX_BODY + 2,
        Jwt => (6 * structured::JWT_SEGMENT_MAX + 4).max(encoded::BLOCK_MAX + 1),
        Bearer | Basic => pattern_len + 4 + structured::AUTH_CREDENTIAL_MAX + 2,
        Pem => PEM_MAX + 64,
        UrlPassword => pattern_len + 2 * structured::URL_PART_MAX + 4,
        Assignment => pattern_len + assign::WINDOW,
        Vendor(_) => pattern_len + vendor::MAX_BODY + 2,
        Authorization | Curl => pattern_len + 16 + header::VALUE_MAX,
        DataMap => pattern_len + encoded::WINDOW,
        SecretKind => pattern_len + 1 + encoded::BLOCK_MAX + 64,
        Base64Pem => pattern_len + encoded::BLOCK_MAX + 1,
        DockerAuth => pattern_len + 1100,
        User(i) => user[usize::from(i)].window(pattern_len),
    };
    w + 1
}

/// The compiled detector set shared by every stream of a `Redactor`.
#[derive(Debug)]
pub(crate) struct Detectors {
    /// Every trigger literal: prefiltered sets for text where triggers are rare, one
    /// automaton without prefilter for dense hits (the prefilter restarts at every hit).
    triggers: Triggers,
    by_pattern: Vec<(Detector, usize)>,
    /// Per pattern, the prefixes one of which must precede its anchor (`rare.rs`).
    back: Vec<&'static [&'static str]>,
    user: Vec<UserRule>,
    allow: Vec<Regex>,
    longest_trigger: usize,
    prefixes: TriggerPrefixes,
    back_context: usize,
    back_mask: usize,
}

impl Detectors {
    /// Compiles the trigger automaton. `builtin` toggles the built-in rules.
    pub(crate) fn new(
        builtin: bool,
        user: Vec<UserRule>,
        allow: Vec<Regex>,
    ) -> Result<Self, aho_corasick::BuildError> {
        let (mut triggers, (short, long)) = match builtin {
            true => (builtin_triggers(), rare::rare_triggers()),
            false => (Vec::new(), (Vec::new(), Vec::new())),
        };
        for (i, rule) in user.iter().enumerate() {
            let i = u16::try_from(i).unwrap_or(u16::MAX);
            for kw in rule.keywords() {
                triggers.extend(
                    case_forms(kw)
                        .into_iter()
                        .map(|f| (f.into_bytes(), Detector::User(i))),
                );
            }
        }
        let main: Vec<&[u8]> = triggers.iter().map(|(p, _)| p.as_slice()).collect();
        let sets: Vec<Vec<&[u8]>> = [&short, &long]
            .iter()
            .map(|set| set.iter().map(|(p, _, _)| p.as_slice()).collect())
            .collect();
        let searchers = Triggers::new(&main, &sets)?;
        let mut back = vec![&[][..]; triggers.len()];
        for (p, b, d) in short.into_iter().chain(long) {
            triggers.push((p, d));
            back.push(b);
        }
        let by_pattern: Vec<(Detector, usize)> = triggers
            .iter()
            .map(|(p, d)| (*d, window(*d, p.len(), &user)))
            .collect();
        let longest_trigger = triggers.iter().map(|(p, _)| p.len()).max().unwrap_or(1);
        let prefixes = TriggerPrefixes::new(triggers.iter().map(|(p, _)| p.as_slice()));
        let user_back = user.iter().map(UserRule::max_len).max().unwrap_or(0);
        Ok(Self {
            triggers: searchers,
            by_pattern,
            back,
            back_context: (assign::BACK).max(user_back + 1),
            back_mask: user_back,
            user,
            allow,
            longest_trigger,
            prefixes,
        })
    }

    /// The leftmost-longest trigger hit in `hay[from..]`; `dense` searches without
    /// prefilter. `cache` is fresh for each haystack.
    pub(crate) fn find(
        &self,
        hay: &[u8],
        from: usize,
        dense: bool,
        cache: &mut FindCache,
    ) -> Option<Hit> {
        self.triggers.find(hay, from, dense, cache)
    }

    /// Longest trigger literal: a hit is only trusted when this many bytes follow its start.
    pub(crate) fn longest_trigger(&self) -> usize {
        self.longest_trigger
    }

    /// The earliest offset of `hay` from which a trigger could still extend past its end
    /// (`hay.len()` if none): see [`TriggerPrefixes::partial_start`].
    pub(crate) fn partial_start(&self, hay: &[u8]) -> usize {
        self.prefixes.partial_start(hay)
    }

    /// Bytes before a hit that verifiers may read.
    pub(crate) fn back_context(&self) -> usize {
        self.back_context
    }

    /// How far before its trigger a secret span may start.
    pub(crate) fn back_mask(&self) -> usize {
        self.back_mask
    }

    /// Largest forward window of any trigger.
    pub(crate) fn max_window(&self) -> usize {
        self.by_pattern.iter().map(|&(_, w)| w).max().unwrap_or(0)
    }

    /// The forward window of trigger `pattern`: given this many bytes from
    /// the hit start its verifier always decides.
    pub(crate) fn window_of(&self, pattern: usize) -> usize {
        self.by_pattern[pattern].1
    }

    /// The rule a trigger reports when its verifier fails closed.
    pub(crate) fn fallback_rule(&self, pattern: usize) -> RuleIdx {
        use Detector::*;
        let b = match self.by_pattern[pattern].0 {
            AwsKeyId => Builtin::AwsAccessKeyId,
            Github => Builtin::GithubToken,
            GithubFine => Builtin::GithubFineGrained,
            Gitlab => Builtin::GitlabToken,
            Slack => Builtin::SlackToken,
            SlackWebhook => Builtin::SlackWebhook,
            Stripe => Builtin::StripeKey,
            GoogleApiKey => Builtin::GoogleApiKey,
            GoogleOauth => Builtin::GoogleOauthToken,
            Npm => Builtin::NpmToken,
            SkDash => Builtin::OpenaiKey,
            Sendgrid => Builtin::SendgridKey,
            Jwt => Builtin::Jwt,
            Bearer => Builtin::BearerToken,
            Basic => Builtin::BasicAuth,
            Pem => Builtin::PrivateKey,
            UrlPassword => Builtin::UrlPassword,
            Assignment => Builtin::SecretAssignment,
            Vendor(rule) => rule,
            Authorization => Builtin::AuthorizationHeader,
            Curl => Builtin::CurlUserPassword,
            DataMap | SecretKind => Builtin::KubernetesSecretData,
            Base64Pem => Builtin::Base64PrivateKey,
            DockerAuth => Builtin::DockerConfigAuth,
            User(i) => return self.user[usize::from(i)].rule,
        };
        b.idx()
    }

    /// Verifies the hit of trigger `pattern` at `[at, end)`.
    pub(crate) fn verify(
        &self,
        hay: Hay<'_>,
        pattern: usize,
        at: usize,
        end: usize,
    ) -> Result<Verdict, NeedMore> {
        use Detector::*;
        let anchor = at;
        let Some(at) = rare::logical_start(hay, at, self.back[pattern]) else {
            return Ok(Verdict {
                rescan: true,
                ..Verdict::default()
            });
        };
        let len = end - at;
        let mut assign_skip = None;
        let mut more = Vec::new();
        let found = match self.by_pattern[pattern].0 {
            AwsKeyId => token::aws_key_id(hay, at)?,
            Github => token::github(hay, at)?,
            GithubFine => token::github_fine(hay, at)?,
            Gitlab => token::gitlab(hay, at, len)?,
            Slack => token::slack(hay, at)?,
            SlackWebhook => token::slack_webhook(hay, at, len)?,
            Stripe => token::stripe(hay, at, len)?,
            GoogleApiKey => token::google_api_key(hay, at)?,
            GoogleOauth => token::google_oauth(hay, at)?,
            Npm => token::npm(hay, at)?,
            SkDash => token::sk_dash(hay, at)?,
            Sendgrid => token::sendgrid(hay, at)?,
            Jwt => match structured::jwt(hay, at)? {
                Some(f) => Some(f),
                None => encoded::base64_docker_config(hay, at)?,
            },
            Bearer => structured::authorization(hay, at, end, false)?,
            Basic => structured::authorization(hay, at, end, true)?,
            Pem => structured::pem(hay, at, end)?,
            UrlPassword => structured::url_password(hay, at, end)?,
            Assignment => {
                let (found, value_end) = assign::assignment(hay, at, end)?;
                assign_skip = value_end;
                found
            }
            Vendor(rule) => vendor::verify(hay, at, len, rule)?,
            Authorization => header::authorization(hay, at, end)?,
            Curl => header::curl_user(hay, at, end)?,
            // The scan does not resume after a map's values: a malformed map (a JSON key
            // running over lines) may hold other secrets between them, and the data maps
            // of a `kind: Secret` may lie far after it, past other lines.
            DataMap => {
                more = encoded::data_map(hay, at, end)?;
                None
            }
            SecretKind => {
                more = encoded::after_kind(hay, at, end)?;
                None
            }
            Base64Pem => encoded::base64_pem(hay, at)?,
            DockerAuth => encoded::docker_auth(hay, end)?,
            User(i) => self.user[usize::from(i)].verify(hay, at, end)?,
        };
        let builtin = !matches!(self.by_pattern[pattern].0, User(_));
        let keep = |f: &Found| {
            let secret = hay.slice(f.start, f.end);
            f.end > f.start
                && !self.allow.iter().any(|a| a.is_match(secret))
                && !(builtin && placeholder::is_documentation_example(secret))
        };
        // Bytes before the anchor may already be released: spans start at it.
        let clip = |f: Found| Found {
            start: f.start.max(anchor),
            ..f
        };
        let found = found.filter(keep).map(clip);
        more.retain(keep);
        Ok(Verdict {
            found,
            more: more.into_iter().map(clip).collect(),
            assign_skip,
            rescan: false,
        })
    }

    /// True when trigger `pattern` belongs to the assignment detector.
    pub(crate) fn is_assignment(&self, pattern: usize) -> bool {
        self.by_pattern[pattern].0 == Detector::Assignment
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_triggers() -> Vec<Vec<u8>> {
        let (short, long) = rare::rare_triggers();
        let rare = short.into_iter().chain(long).map(|(p, _, _)| p);
        builtin_triggers()
            .into_iter()
            .map(|(p, _)| p)
            .chain(rare)
            .collect()
    }

    #[test]
    fn no_trigger_is_listed_twice() {
        let mut all = all_triggers();
        let total = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), total, "a trigger literal is listed twice");
    }

    #[test]
    fn no_trigger_contains_another_after_its_start() {
        // An idle flush decides a complete trigger inside an incomplete longer one and
        // resumes after it, so the longer one's hit would be lost (`AGE-SECRET-KEY-1`
        // holds `SECRET`).
        let all = all_triggers();
        for a in &all {
            for b in &all {
                let inside = (1..a.len()).any(|i| a[i..].starts_with(b));
                assert!(
                    !inside,
                    "{} contains {}",
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b)
                );
            }
        }
    }

    #[test]
    fn builtin_triggers_fit_the_simd_prefilter() {
        // More than 64 literals disables aho-corasick's Teddy prefilter.
        assert!(
            builtin_triggers().len() <= 64,
            "{} triggers",
            builtin_triggers().len()
        );
    }
}
