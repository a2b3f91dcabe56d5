//! The log of a real `rootlab serve` whose stderr is a pipe: no ANSI colour codes in `text`, one
//! JSON object per line in `json`, and each request's id (the client's `X-Request-Id`) in the
//! span of its log lines and in its answer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// Start `rootlab serve` on a free port with stderr piped; its address.
fn serve(format: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rootlab"))
        .args(["serve", "--addr", "127.0.0.1:0", "--workers", "1"])
        .args(["--log-format", format, "--static-dir", "/nonexistent"])
        .env("RUST_LOG", "info,tower_http=debug")
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rootlab serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .expect("the address line")
        .to_string();
    (child, addr)
}

/// A raw HTTP/1.1 GET; the whole answer (headers and body).
fn get(addr: &str, path: &str, request_id: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    let id = request_id.map_or(String::new(), |id| format!("X-Request-Id: {id}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{id}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// SIGTERM the server; its whole stderr.
fn stop(mut child: Child) -> String {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{log}");
    log
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    answer.lines().find_map(|l| {
        let (key, value) = l.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[test]
fn text_logs_have_no_colour_when_stderr_is_a_pipe() {
    let (child, addr) = serve("text");
    let answer = get(&addr, "/livez", Some("text-log-1"));
    assert_eq!(
        header(&answer, "x-request-id"),
        Some("text-log-1"),
        "{answer}"
    );
    let log = stop(child);
    assert!(!log.contains('\u{1b}'), "ANSI codes in a piped log:\n{log}");
    assert!(log.contains("request_id=text-log-1"), "{log}");
}

#[test]
fn json_logs_carry_the_request_id() {
    let (child, addr) = serve("json");
    let answer = get(&addr, "/livez", Some("json-log-1"));
    assert_eq!(
        header(&answer, "x-request-id"),
        Some("json-log-1"),
        "{answer}"
    );
    let generated = get(&addr, "/livez", None);
    let id = header(&generated, "x-request-id").expect("an id is made up when none is sent");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let replaced = get(&addr, "/livez", Some("no\tgood"));
    assert_ne!(header(&replaced, "x-request-id"), Some("no\tgood"));
    let log = stop(child);
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == "json-log-1"),
        "{log}"
    );
    assert!(lines.iter().any(|l| l["span"]["request_id"] == id), "{log}");
}
