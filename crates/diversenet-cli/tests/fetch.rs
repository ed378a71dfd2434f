//! `fetch mnist` against a local HTTP server on 127.0.0.1 that serves the files of
//! ../shared/data/mnist, one of them corrupted: the corrupted file must be refused and
//! never left under its final name.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::mnist_dir;
use diversenet::data::fetch::fetch_mnist;
use diversenet::data::mnist::{self, FILES};

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// Serves `files` by path on 127.0.0.1 until 60 s have passed or 50 requests were answered.
fn serve(files: Files) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut answered = 0;
        while Instant::now() < deadline && answered < 50 {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = String::from_utf8_lossy(&req);
            let path = text
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let body = files.lock().unwrap().get(&path).cloned();
            let _ = match body {
                Some(b) => stream
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .as_bytes(),
                    )
                    .and_then(|_| stream.write_all(&b)),
                None => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
            answered += 1;
        }
    });
    format!("http://{addr}/mnist/")
}

fn shared_files() -> HashMap<String, Vec<u8>> {
    FILES
        .iter()
        .map(|(name, _)| {
            (
                format!("mnist/{name}.gz"),
                std::fs::read(mnist_dir().join(format!("{name}.gz"))).unwrap(),
            )
        })
        .collect()
}

/// The same file with one byte of its decompressed content changed, gzipped again.
fn corrupted(gz: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .unwrap();
    let n = raw.len();
    raw[n - 1] ^= 1;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&raw).unwrap();
    e.finish().unwrap()
}

#[test]
fn downloads_verifies_and_refuses_a_corrupted_file() {
    let mut files = shared_files();
    let bad_key = "mnist/t10k-labels-idx1-ubyte.gz".to_string();
    let good_labels = files[&bad_key].clone();
    files.insert(bad_key.clone(), corrupted(&good_labels));
    let files = Arc::new(Mutex::new(files));
    let url = serve(files.clone());
    let dir = tempfile::tempdir().unwrap();

    let err = fetch_mnist(dir.path(), std::slice::from_ref(&url), |_| {}).unwrap_err();
    // It says how to pass a copy of the data instead.
    assert_eq!(err.settings(), ["data_dir"], "{err:?}");
    let err = err.to_string();
    assert!(err.contains("checksum mismatch"), "{err}");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("t10k-labels")),
        "corrupted file left behind: {names:?}"
    );
    assert_eq!(names.len(), 3, "the three good files are kept: {names:?}");

    // The mirror is repaired: only the missing file is downloaded, the rest verified in place.
    files.lock().unwrap().insert(bad_key, good_labels);
    let report = fetch_mnist(dir.path(), &[url], |_| {}).unwrap();
    let actions: Vec<&str> = report.iter().map(|f| f.action.as_str()).collect();
    assert_eq!(actions, ["present", "present", "present", "downloaded"]);
    assert!(mnist::is_present(dir.path()));
    let (train, test) = mnist::load(dir.path()).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
}

#[test]
fn offline_failure_says_how_to_use_an_existing_copy() {
    // A port nothing listens on: bind, read the port, close.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_mnist(dir.path(), &[format!("http://127.0.0.1:{port}/")], |_| {}).unwrap_err();
    assert!(matches!(err, diversenet::Error::Fetch(_)), "{err:?}");
    assert_eq!(err.settings(), ["data_dir"], "{err:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn cli_fetch_uses_the_mirror_flag() {
    let url = serve(Arc::new(Mutex::new(shared_files())));
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_diversenet"))
        .args(["fetch", "mnist", "--dir"])
        .arg(dir.path())
        .args(["--mirror", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(mnist::is_present(dir.path()));
}
