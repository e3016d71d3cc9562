//! The static token file, in kube-apiserver `--token-auth-file` format.
//!
//! Each line is CSV: `token,user,uid[,"group1,group2"]`. Like kube-apiserver, a record with
//! fewer than three columns is an error; unlike it, a duplicate token is an error too
//! (two identities behind one token is never what anyone meant).
//!
//! The file is watched ([`crate::watched`]): a token removed from it stops working within
//! [`crate::watched::POLL_INTERVAL`] (or at once on SIGHUP), without a restart, and an
//! invalid edit is rejected with its line while the previous tokens stay in force.
//! Sessions already running are not cut; they end by their policy limits.

use std::collections::HashMap;
use std::path::Path;

use super::{Identity, token_digest};
use crate::watched::{FromFile, read_bounded};

/// The largest token file read.
pub const MAX_TOKEN_FILE: u64 = 16 << 20;

/// Tokens by SHA-256 digest.
#[derive(Clone, Debug, Default)]
pub struct TokenFile {
    by_digest: HashMap<[u8; 32], Identity>,
}

/// A problem in a token file, with its line number.
#[derive(Debug, thiserror::Error)]
#[error("token file line {line}: {problem}")]
pub struct TokenFileError {
    line: u64,
    problem: String,
}

impl TokenFile {
    /// Reads a token file.
    pub fn load(path: &Path) -> Result<TokenFile, TokenFileError> {
        TokenFile::parse(&<TokenFile as FromFile>::read(path)?)
    }

    /// Parses token file text.
    pub fn parse(text: &str) -> Result<TokenFile, TokenFileError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let mut by_digest = HashMap::new();
        for record in reader.records() {
            let record = record.map_err(|e| TokenFileError {
                line: e.position().map_or(0, |p| p.line()),
                problem: e.to_string(),
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let bad = |problem: &str| TokenFileError {
                line,
                problem: problem.to_string(),
            };
            if record.len() < 3 {
                return Err(bad("needs at least 3 columns (token, user name, user uid)"));
            }
            let (token, user, uid) = (record[0].trim(), record[1].trim(), record[2].trim());
            if token.is_empty() || user.is_empty() {
                return Err(bad("token and user name must not be empty"));
            }
            let groups = record
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            let identity = Identity {
                user: user.to_string(),
                uid: (!uid.is_empty()).then(|| uid.to_string()),
                groups,
                extra: Default::default(),
            };
            if by_digest.insert(token_digest(token), identity).is_some() {
                return Err(bad("duplicate token"));
            }
        }
        Ok(TokenFile { by_digest })
    }

    /// The identity behind a token digest.
    pub fn lookup(&self, digest: &[u8; 32]) -> Option<&Identity> {
        self.by_digest.get(digest)
    }

    /// How many tokens the file holds.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether the file holds no tokens.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

impl FromFile for TokenFile {
    type Error = TokenFileError;
    const WHAT: &'static str = "token file";

    fn read(path: &Path) -> Result<String, TokenFileError> {
        read_bounded(path, MAX_TOKEN_FILE).map_err(|e| TokenFileError {
            line: 0,
            problem: format!("reading {}: {e}", path.display()),
        })
    }

    fn parse(text: &str) -> Result<TokenFile, TokenFileError> {
        TokenFile::parse(text)
    }

    fn problems(error: &TokenFileError) -> Vec<(String, String)> {
        vec![(format!("line {}", error.line), error.problem.clone())]
    }

    fn entries(&self) -> usize {
        self.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_apiserver_format() {
        let f =
            TokenFile::parse("# comment\nt1,alice,u1,\"g1,g2\"\nt2,bob,,\nt3,carol,u3\n").unwrap();
        assert_eq!(f.len(), 3);
        let bob = f.lookup(&token_digest("t2")).unwrap();
        assert_eq!(bob.uid, None);
        assert!(bob.groups.is_empty());
        assert_eq!(f.lookup(&token_digest("t1")).unwrap().groups, ["g1", "g2"]);
    }

    #[test]
    fn rejects_short_records_and_duplicates_with_the_line() {
        let err = TokenFile::parse("t1,alice,u1\nt2,bob\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = TokenFile::parse("t1,alice,u1\nt1,bob,u2\n").unwrap_err();
        assert!(err.to_string().contains("duplicate"));
        assert!(TokenFile::parse(",alice,u1\n").is_err());
    }
}
