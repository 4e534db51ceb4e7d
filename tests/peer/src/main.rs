//! `moq-test-peer`: the test peer of moq's C++ tests (see the library docs).
//!
//! moq-test-peer --cert-dir DIR [--goaway URI] [--goaway-after-ms N]
//!               [--publish NAMESPACE/TRACK] [--groups N] [--max-seconds N]
//!
//! Prints "listening on 127.0.0.1:PORT" on stderr when ready; runs until
//! killed or --max-seconds (default 300) pass.

use std::path::PathBuf;
use std::time::Duration;

use moq_test_peer::{Peer, PeerOptions};

fn main() {
    if let Err(e) = run() {
        eprintln!("moq-test-peer: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut cert_dir = None;
    let mut options = PeerOptions {
        goaway_after: Duration::from_millis(200),
        groups: 20,
        ..Default::default()
    };
    let mut max_seconds = 300u64;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("{v}: not a number"));
        match flag.as_str() {
            "--cert-dir" => cert_dir = Some(PathBuf::from(value()?)),
            "--goaway" => options.goaway_uri = Some(value()?),
            "--goaway-after-ms" => options.goaway_after = Duration::from_millis(number(value()?)?),
            "--publish" => {
                let path = value()?;
                let (namespace, track) = path
                    .rsplit_once('/')
                    .ok_or(format!("--publish {path}: expected NAMESPACE/TRACK"))?;
                options.publish = Some((namespace.to_string(), track.to_string()));
            }
            "--groups" => options.groups = number(value()?)?,
            "--max-seconds" => max_seconds = number(value()?)?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let cert_dir = cert_dir.ok_or("--cert-dir is required")?;
    let peer = Peer::start(&cert_dir, options)?;
    eprintln!("listening on 127.0.0.1:{}", peer.port());
    std::thread::sleep(Duration::from_secs(max_seconds));
    Ok(())
}
