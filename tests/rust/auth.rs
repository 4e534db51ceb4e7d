//! Authorization tokens in SETUP (draft 18 §10.3.1.4): validation, and a real
//! `moq-relay-ietf` (built with `auth-cat`) verifying Common Access Tokens
//! minted here with the `cat-token` crate the relay itself uses.

#[path = "common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::sync::mpsc;

use common::{channel, config, next_object, warm_up, WAIT};
use moq_ffi::{
    validate_auth_tokens, AuthToken, Code, Error, Namespace, Session, SessionConfig,
    CAT_TOKEN_TYPE, MAX_AUTH_TOKENS, MAX_AUTH_TOKEN_BYTES,
};
use support::{relay_auth_cat_binary, Relay, RelayOptions};

use moq_test_peer::cat::{self, AUDIENCE};

fn token(token_type: u64, value: &[u8]) -> AuthToken {
    AuthToken {
        token_type,
        value: value.to_vec(),
    }
}

fn invalid(tokens: Vec<AuthToken>) -> Error {
    let err = validate_auth_tokens(&tokens).expect_err("tokens must be refused");
    assert_eq!(err.code, Code::InvalidArgument, "{err}");
    err
}

#[test]
fn token_validation() {
    assert!(validate_auth_tokens(&[]).is_ok());
    let max: Vec<_> = (0..MAX_AUTH_TOKENS as u8)
        .map(|i| token(CAT_TOKEN_TYPE, &[i]))
        .collect();
    assert!(validate_auth_tokens(&max).is_ok());
    // Same value with another type, or same type with another value: distinct.
    assert!(validate_auth_tokens(&[token(1, b"a"), token(2, b"a"), token(1, b"b")]).is_ok());
    assert!(validate_auth_tokens(&[token(u64::MAX, b"x")]).is_ok());

    let too_many: Vec<_> = (0..=MAX_AUTH_TOKENS as u8)
        .map(|i| token(CAT_TOKEN_TYPE, &[i]))
        .collect();
    let err = invalid(too_many);
    assert!(err.message.contains("at most 4"), "{err}");

    let err = invalid(vec![token(1, b"ok"), token(1, b"")]);
    assert!(
        err.message.contains("token 1") && err.message.contains("empty"),
        "{err}"
    );

    let err = invalid(vec![token(1, b"same"), token(1, b"same")]);
    assert!(err.message.contains("repeats"), "{err}");

    let big = vec![7u8; MAX_AUTH_TOKEN_BYTES / 2 + 1];
    let err = invalid(vec![
        AuthToken {
            token_type: 1,
            value: big.clone(),
        },
        AuthToken {
            token_type: 2,
            value: big,
        },
    ]);
    assert!(err.message.contains("SETUP"), "{err}");
}

#[test]
fn invalid_tokens_fail_connect_before_any_io() {
    // Nothing listens on this URL: only validation can answer this fast.
    let config = SessionConfig {
        auth_tokens: vec![token(1, b"")],
        ..Default::default()
    };
    let err = Session::connect("https://127.0.0.1:9/", config, Box::new(|_| {}))
        .err()
        .expect("connect must fail");
    assert_eq!(err.code, Code::InvalidArgument, "{err}");
}

#[test]
fn tokens_reach_a_relay_without_auth_config() {
    // A relay with no scope config ignores tokens: the session works.
    let relay = Relay::start().expect("relay");
    let config = SessionConfig {
        auth_tokens: vec![token(CAT_TOKEN_TYPE, b"opaque"), token(0x63346d, b"other")],
        ..config(&relay)
    };
    let session = Session::connect(&relay.url(), config, Box::new(|_| {})).expect("connect");
    let ns = Namespace::parse("tokens/ignored").unwrap();
    session.announce(&ns).expect("announce");
}

// ------------------------------------------------------------------ CAT relay

struct AuthRelay {
    relay: Relay,
    signer: cat::Signer,
    _dir: tempfile::TempDir,
}

fn start_auth_relay() -> AuthRelay {
    let dir = tempfile::Builder::new()
        .prefix("moq-auth-")
        .tempdir_in("/tmp")
        .unwrap();
    let signer = cat::new_signer().expect("key pair");
    let scope_config = cat::write_scope_config(dir.path(), &signer).expect("scope config");
    let relay = Relay::start_with(RelayOptions {
        extra_args: vec!["--scope-config".into(), scope_config.display().to_string()],
        binary: Some(relay_auth_cat_binary()),
        ..Default::default()
    })
    .expect("relay with --scope-config (moq-relay-ietf built with auth-cat)");
    AuthRelay {
        relay,
        signer,
        _dir: dir,
    }
}

/// A CAT granting CLIENT_SETUP, and publish + subscribe under namespace
/// prefix `allowed` (moq_test_peer::cat).
fn mint(signer: &cat::Signer, audience: &str) -> AuthToken {
    AuthToken {
        token_type: CAT_TOKEN_TYPE,
        value: cat::mint(signer, audience).expect("encode token"),
    }
}

/// Connects with `tokens`; the relay refuses an unauthorized session right
/// after SETUP, so the refusal arrives either as the connect error or as the
/// session's terminal event. Returns that error.
fn refusal(relay: &Relay, tokens: Vec<AuthToken>) -> Error {
    let config = SessionConfig {
        auth_tokens: tokens,
        ..config(relay)
    };
    let (tx, rx) = mpsc::channel();
    match Session::connect(
        &relay.url(),
        config,
        Box::new(move |e| {
            let _ = tx.send(e);
        }),
    ) {
        Err(err) => err,
        Ok(session) => {
            let closed = rx
                .recv_timeout(WAIT)
                .expect("the relay must close the session");
            drop(session);
            closed.expect("the session must end with an error")
        }
    }
}

#[test]
fn relay_verifies_cat_tokens() {
    let auth = start_auth_relay();
    let relay = &auth.relay;

    // A valid token: connect, announce and subscribe in the granted scope.
    let connect_with = |tokens: Vec<AuthToken>| {
        Session::connect(
            &relay.url(),
            SessionConfig {
                auth_tokens: tokens,
                ..config(relay)
            },
            Box::new(|_| {}),
        )
    };
    let publisher = connect_with(vec![mint(&auth.signer, AUDIENCE)]).expect("authorized connect");
    let subscriber = connect_with(vec![mint(&auth.signer, AUDIENCE)]).expect("authorized connect");
    let ns = Namespace::parse("allowed/cam").unwrap();
    let announcement = publisher
        .announce(&ns)
        .expect("announce in the granted scope");
    let track = announcement.create_track(b"video").unwrap();
    let (handler, rx) = channel();
    let _subscription = subscriber
        .subscribe(&ns, b"video", handler)
        .expect("subscribe in the granted scope");
    let warm = warm_up(&track, &rx);
    let group = track.begin_group(1).unwrap();
    group
        .write(bytes::Bytes::from_static(b"authorized"))
        .unwrap();
    group.finish().unwrap();
    loop {
        let o = next_object(&rx);
        if o.group_id > warm && &o.payload[..] == b"authorized" {
            break;
        }
    }

    // Outside the granted namespace: the relay answers REQUEST_ERROR with
    // UNAUTHORIZED (0x1), which the engine reports as the request closed with
    // code 1.
    let outside = Namespace::parse("denied/cam").unwrap();
    let err = publisher
        .announce(&outside)
        .err()
        .expect("announce outside the scope must be refused");
    assert_eq!(err.code, Code::Closed, "{err}");
    assert!(err.message.contains("unauthorized"), "{err}");
    let (handler, _rx) = channel();
    let err = subscriber
        .subscribe(&outside, b"video", handler)
        .err()
        .expect("subscribe outside the scope must be refused");
    assert_eq!(err.code, Code::Closed, "{err}");
    assert!(err.message.contains("code=1"), "{err}");

    // No token, a garbage token, a token for another relay: the relay closes
    // the session as UNAUTHORIZED.
    for (what, tokens) in [
        ("no token", vec![]),
        ("garbage token", vec![token(CAT_TOKEN_TYPE, b"not a CWT")]),
        (
            "token for another audience",
            vec![mint(&auth.signer, "another-relay")],
        ),
    ] {
        let err = refusal(relay, tokens);
        assert_eq!(err.code, Code::ConnectFailed, "{what}: {err}");
        assert!(err.message.contains("unauthorized"), "{what}: {err}");
        assert!(err.message.contains("auth_tokens"), "{what}: {err}");
    }

    // The authorized sessions were not disturbed by the refused ones.
    publisher
        .announce(&Namespace::parse("allowed/second").unwrap())
        .expect("announce after refusals");
}
