//! Access tokens for gradlab's servers (gradlab-web, gradlab-serve) and their clients: the first
//! line of a file, else an environment variable; never a command-line value, which any user of
//! the machine could read in the process list.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The token: the first line of `file` (named `flag` in messages, e.g. `--token-file`), else the
/// environment variable `env`, else none. A token shorter than 16 characters, or with a character
/// other than letters, digits and `. _ ~ -`, is refused with a message naming where it came from.
pub fn read(file: Option<&Path>, flag: &str, env: &str) -> Result<Option<String>> {
    let (token, from) = match file {
        Some(f) => {
            let text = std::fs::read_to_string(f).with_context(|| format!("{flag} {}", f.display()))?;
            (
                text.lines().next().unwrap_or("").trim().to_string(),
                format!("{flag} {}", f.display()),
            )
        }
        None => match std::env::var(env) {
            Ok(t) => (t.trim().to_string(), env.to_string()),
            Err(_) => return Ok(None),
        },
    };
    if token.len() < 16 {
        bail!(
            "{from}: the access token must be at least 16 characters (it has {})",
            token.len()
        );
    }
    if let Some(c) = token
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._~-".contains(*c)))
    {
        bail!(
            "{from}: the access token may hold only letters, digits and . _ ~ - (it has {c:?}), so it travels unchanged in a URL and a header"
        );
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_gives_its_first_line_and_bad_tokens_name_their_file() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, "abcdefghijklmnop-1\nsecond line\n").unwrap();
        let token = read(Some(&good), "--token-file", "GRADLAB_TEST_UNSET_TOKEN").unwrap();
        assert_eq!(token.as_deref(), Some("abcdefghijklmnop-1"));
        let short = dir.path().join("short");
        std::fs::write(&short, "abc\n").unwrap();
        let e = read(Some(&short), "remote_token_file", "X").unwrap_err().to_string();
        assert!(e.starts_with("remote_token_file ") && e.contains("at least 16"), "{e}");
        let odd = dir.path().join("odd");
        std::fs::write(&odd, "abcdefghijklmnop qr\n").unwrap();
        let e = read(Some(&odd), "--token-file", "X").unwrap_err().to_string();
        assert!(e.contains("only letters"), "{e}");
        let e = format!(
            "{:#}",
            read(Some(&dir.path().join("none")), "--token-file", "X").unwrap_err()
        );
        assert!(e.contains("none") && e.contains("--token-file"), "{e}");
        assert_eq!(read(None, "--token-file", "GRADLAB_TEST_UNSET_TOKEN").unwrap(), None);
    }
}
