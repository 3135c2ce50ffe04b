//! Opening a connection: the startup message, authentication (trust,
//! cleartext, md5, SCRAM-SHA-256), then `ParameterStatus`,
//! `BackendKeyData` and the first `ReadyForQuery`, after which the driver
//! takes over the socket.

use std::collections::HashMap;
use std::rc::Rc;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{self, sasl};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use crate::client::{current_loop, db_error, unexpected, Client};
use crate::config::Config;
use crate::driver::Shared;
use crate::error::Error;
use crate::wire::Stream;

/// Connects with a `postgres://` URL or `key=value` string.
///
/// # Errors
///
/// [`Error::Config`] for a bad string; otherwise as [`connect_with`].
pub async fn connect(params: &str) -> Result<Client, Error> {
    connect_with(&params.parse()?).await
}

/// Connects with `config`, on the loop running on this thread.
///
/// # Errors
///
/// [`Error::Io`] when the server cannot be reached, [`Error::Db`] when it
/// refuses us (28P01 for a wrong password, 3D000 for a missing database),
/// [`Error::Auth`] when we cannot answer its authentication request,
/// [`Error::Timeout`] after `connect_timeout`.
pub async fn connect_with(config: &Config) -> Result<Client, Error> {
    let lp = current_loop()?;
    let work = async {
        let stream = Stream::connect(&lp, config).await?;
        startup(&lp, stream, config).await
    };
    match config.connect_timeout {
        None => work.await,
        Some(limit) => lp.timeout(limit, work).map_err(Error::io)?.await.unwrap_or(Err(Error::Timeout)),
    }
}

async fn startup(lp: &waiter_loop::Loop, stream: Stream, config: &Config) -> Result<Client, Error> {
    let mut out = BytesMut::new();
    let mut params = vec![
        ("user", config.user.as_str()),
        ("database", config.database()),
        ("client_encoding", "UTF8"),
        // Text-format dates and timestamps are parsed in ISO form.
        ("DateStyle", "ISO"),
    ];
    if let Some(name) = &config.application_name {
        params.push(("application_name", name));
    }
    frontend::startup_message(params, &mut out).map_err(Error::io)?;
    stream.write_all(&out).await.map_err(Error::io)?;

    let mut buf = BytesMut::new();
    let max = config.max_message_size;
    authenticate(&stream, &mut buf, config).await?;

    let mut parameters = HashMap::new();
    let mut key = None;
    loop {
        match stream.read_message(&mut buf, max).await? {
            Message::ParameterStatus(body) => {
                let name = body.name().map_err(Error::io)?.to_string();
                parameters.insert(name, body.value().map_err(Error::io)?.to_string());
            }
            Message::BackendKeyData(body) => key = Some((body.process_id(), body.secret_key())),
            Message::NoticeResponse(_) => {}
            Message::ReadyForQuery(_) => break,
            Message::ErrorResponse(body) => return Err(db_error(&body)),
            other => return Err(unexpected(&other)),
        }
    }
    let (process_id, secret_key) =
        key.ok_or_else(|| Error::protocol("no BackendKeyData before ReadyForQuery"))?;
    let shared = Rc::new(Shared::new(stream, config.clone(), process_id, secret_key, parameters));
    shared.start(lp, buf);
    Ok(Client::new(shared))
}

async fn authenticate(stream: &Stream, buf: &mut BytesMut, config: &Config) -> Result<(), Error> {
    let max = config.max_message_size;
    // The password file is read only when the server asks for a password.
    let given = std::cell::OnceCell::new();
    let password = || {
        given
            .get_or_init(|| config.password.clone().or_else(|| config.passfile_password()))
            .as_deref()
            .map(str::as_bytes)
            .ok_or_else(|| {
                Error::Auth(format!(
                    "the server asks for a password for user {:?} and none was given",
                    config.user
                ))
            })
    };
    let mut out = BytesMut::new();
    match stream.read_message(buf, max).await? {
        Message::AuthenticationOk => return Ok(()),
        Message::AuthenticationCleartextPassword => {
            frontend::password_message(password()?, &mut out).map_err(Error::io)?;
        }
        Message::AuthenticationMd5Password(body) => {
            let hash = authentication::md5_hash(config.user.as_bytes(), password()?, body.salt());
            frontend::password_message(hash.as_bytes(), &mut out).map_err(Error::io)?;
        }
        Message::AuthenticationSasl(body) => {
            let mechanisms: Vec<String> =
                body.mechanisms().map(|m| Ok(m.to_string())).collect().map_err(Error::io)?;
            if !mechanisms.iter().any(|m| m == sasl::SCRAM_SHA_256) {
                return Err(Error::Auth(format!("no supported SASL mechanism among {mechanisms:?}")));
            }
            // No TLS, so no channel binding; the server sees the "n" flag.
            let mut scram = sasl::ScramSha256::new(password()?, sasl::ChannelBinding::unsupported());
            frontend::sasl_initial_response(sasl::SCRAM_SHA_256, scram.message(), &mut out)
                .map_err(Error::io)?;
            stream.write_all(&out).await.map_err(Error::io)?;
            out.clear();
            match stream.read_message(buf, max).await? {
                Message::AuthenticationSaslContinue(body) => {
                    scram.update(body.data()).map_err(|e| Error::Auth(format!("SCRAM: {e}")))?
                }
                Message::ErrorResponse(body) => return Err(db_error(&body)),
                other => return Err(unexpected(&other)),
            }
            frontend::sasl_response(scram.message(), &mut out).map_err(Error::io)?;
            stream.write_all(&out).await.map_err(Error::io)?;
            out.clear();
            match stream.read_message(buf, max).await? {
                Message::AuthenticationSaslFinal(body) => {
                    // Verifies the server's signature: it knew the password too.
                    scram.finish(body.data()).map_err(|e| Error::Auth(format!("SCRAM: {e}")))?
                }
                Message::ErrorResponse(body) => return Err(db_error(&body)),
                other => return Err(unexpected(&other)),
            }
        }
        Message::ErrorResponse(body) => return Err(db_error(&body)),
        Message::AuthenticationKerberosV5
        | Message::AuthenticationScmCredential
        | Message::AuthenticationGss
        | Message::AuthenticationSspi => {
            return Err(Error::Auth("unsupported authentication method (Kerberos, SCM, GSS or SSPI)".into()))
        }
        other => return Err(unexpected(&other)),
    }
    if !out.is_empty() {
        stream.write_all(&out).await.map_err(Error::io)?;
    }
    match stream.read_message(buf, max).await? {
        Message::AuthenticationOk => Ok(()),
        Message::ErrorResponse(body) => Err(db_error(&body)),
        other => Err(unexpected(&other)),
    }
}
