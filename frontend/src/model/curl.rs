//! The `curl` command that runs the same experiment through the REST API, for notebooks and shells.

/// Quote for a POSIX shell: single quotes, with each `'` closed, escaped and reopened.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// `curl` posting `spec_json` (compacted when it parses) to `{origin}/api/v1/run`.
pub fn run_command(origin: &str, spec_json: &str) -> String {
    let body = serde_json::from_str::<serde_json::Value>(spec_json)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| spec_json.to_string());
    format!(
        "curl -sS -X POST {} -H 'Content-Type: application/json' -d {}",
        shell_quote(&format!("{}/api/v1/run", origin.trim_end_matches('/'))),
        shell_quote(&body)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_a_shell() {
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn command_posts_compact_json() {
        let cmd = run_command("http://127.0.0.1:7878/", "{\n  \"title\": [ \"it's\" ]\n}");
        assert_eq!(
            cmd,
            r#"curl -sS -X POST 'http://127.0.0.1:7878/api/v1/run' -H 'Content-Type: application/json' -d '{"title":["it'\''s"]}'"#
        );
    }
}
