//! `moq-test-peer`: the test peer of moq's C++ tests (see the library docs).
//!
//! moq-test-peer --cert-dir DIR [--goaway URI] [--goaway-after-ms N]
//!               [--publish NAMESPACE/TRACK] [--groups N] [--serve]
//!               [--serve-oversized] [--accept-namespaces] [--no-datagrams]
//!               [--max-seconds N]
//!     Prints "listening on 127.0.0.1:PORT" on stderr when ready, then one
//!     "moq-test-peer: ..." line per thing it sees; runs until killed or
//!     --max-seconds (default 300) pass.
//!
//! moq-test-peer mint-cat --dir DIR
//!     For the authorization tests: writes DIR/scope-config.json (for
//!     moq-relay-ietf --scope-config) and its key, then prints on stdout
//!     "token=HEX" (a token the relay accepts, for namespaces under
//!     "allowed") and "other-audience-token=HEX" (one it refuses).

use std::path::PathBuf;
use std::time::Duration;

use moq_test_peer::{cat, Peer, PeerOptions};

fn main() {
    if let Err(e) = run() {
        eprintln!("moq-test-peer: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("mint-cat") {
        args.next();
        return mint_cat(args);
    }
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
            "--serve" => options.serve = true,
            "--serve-oversized" => {
                options.serve = true;
                options.oversized = true;
            }
            "--accept-namespaces" => options.accept_namespaces = true,
            "--no-datagrams" => options.no_datagrams = true,
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

fn mint_cat(mut args: impl Iterator<Item = String>) -> Result<(), String> {
    let (Some(flag), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: moq-test-peer mint-cat --dir DIR".into());
    };
    if flag != "--dir" {
        return Err(format!("mint-cat: unknown argument {flag}"));
    }
    let dir = PathBuf::from(dir);
    let signer = cat::new_signer()?;
    cat::write_scope_config(&dir, &signer)?;
    let hex = |bytes: Vec<u8>| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    println!("token={}", hex(cat::mint(&signer, cat::AUDIENCE)?));
    println!(
        "other-audience-token={}",
        hex(cat::mint(&signer, "another-relay")?)
    );
    Ok(())
}
