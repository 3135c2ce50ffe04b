//! Connection settings from libpq's sources beyond the string: TCP
//! keepalive on the socket (read back with getsockopt), the `PG*`
//! environment variables (through an injected lookup: no test touches the
//! process environment) and the password file.

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;

use common::{cluster, config, run, url};
use waiter_pg::{Client, Config, Error};

/// The socket options of the client's TCP connection: `SO_KEEPALIVE`,
/// `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`. The socket is found among
/// this process's descriptors by its local port, which the server reports.
async fn keepalive_options(client: &Client) -> (i32, i32, i32, i32) {
    let row = client.query_one("SELECT inet_client_port()", &[]).await.unwrap();
    let port = u16::try_from(row.get::<i32>(0)).unwrap();
    let fd = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|&fd| local_port(fd) == Some(port))
        .expect("the client's socket among this process's descriptors");
    let get = |level, name| {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` is a live, writable c_int and `len` its size.
        let rc =
            unsafe { libc::getsockopt(fd, level, name, (&mut value as *mut libc::c_int).cast(), &mut len) };
        assert_eq!(rc, 0, "getsockopt: {}", std::io::Error::last_os_error());
        value
    };
    (
        get(libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        get(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
        get(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
        get(libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
    )
}

/// The local port of descriptor `fd` if it is an IPv4 socket.
fn local_port(fd: i32) -> Option<u16> {
    // SAFETY: sockaddr_in is plain data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: `addr` is writable for `len` bytes; the kernel writes at most that (any fd: ENOTSOCK otherwise).
    let rc = unsafe { libc::getsockname(fd, (&mut addr as *mut libc::sockaddr_in).cast(), &mut len) };
    (rc == 0 && i32::from(addr.sin_family) == libc::AF_INET).then(|| u16::from_be(addr.sin_port))
}

#[test]
fn tcp_keepalive_is_on_by_default_as_in_libpq() {
    run(async {
        let client = waiter_pg::connect_with(&config()).await.unwrap();
        let (on, ..) = keepalive_options(&client).await;
        assert_eq!(on, 1, "SO_KEEPALIVE");
    });
}

#[test]
fn keepalive_parameters_set_the_socket_options() {
    run(async {
        let params =
            format!("{}?keepalives_idle=7&keepalives_interval=3&keepalives_count=4", url("waiter", None));
        let client = waiter_pg::connect(&params).await.unwrap();
        assert_eq!(keepalive_options(&client).await, (1, 7, 3, 4));

        let params = format!("port={} host=127.0.0.1 user=waiter dbname=waiter keepalives=0", cluster().port);
        let client = waiter_pg::connect(&params).await.unwrap();
        assert_eq!(keepalive_options(&client).await.0, 0, "keepalives=0 leaves SO_KEEPALIVE off");
    });
}

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |name| map.get(name).cloned()
}

#[test]
fn pg_environment_variables_are_defaults_under_the_connection_string() {
    run(async {
        let port = cluster().port.to_string();
        let env = vars(&[
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", &port),
            ("PGDATABASE", "waiter"),
            ("PGUSER", "waiter_scram"),
            ("PGPASSWORD", "scram-secret"),
            ("PGAPPNAME", "from_env"),
            ("PGCONNECT_TIMEOUT", "5"),
        ]);
        let who = "SELECT current_user::text, current_setting('application_name'), current_database()::text";
        let base = Config::from_vars(&env).unwrap();
        let client = waiter_pg::connect_with(&base).await.unwrap();
        let row = client.query_one(who, &[]).await.unwrap();
        assert_eq!(
            (row.get::<String>(0), row.get::<String>(1), row.get::<String>(2)),
            ("waiter_scram".into(), "from_env".into(), "waiter".into())
        );

        // The URL's user and password win; host, port and the rest stay the environment's.
        let over =
            Config::from_vars(&env).unwrap().apply("postgres://waiter_md5:md5-secret@/waiter").unwrap();
        let client = waiter_pg::connect_with(&over).await.unwrap();
        let row = client.query_one(who, &[]).await.unwrap();
        assert_eq!((row.get::<String>(0), row.get::<String>(1)), ("waiter_md5".into(), "from_env".into()));

        // A key=value string over it: its application_name wins.
        let over = Config::from_vars(&env).unwrap().apply("application_name=from_string").unwrap();
        let client = waiter_pg::connect_with(&over).await.unwrap();
        let row = client.query_one(who, &[]).await.unwrap();
        assert_eq!(
            (row.get::<String>(0), row.get::<String>(1)),
            ("waiter_scram".into(), "from_string".into())
        );

        match Config::from_vars(vars(&[("PGPORT", "x")])) {
            Err(Error::Config(why)) => assert!(why.contains("PGPORT"), "{why}"),
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn the_password_file_answers_a_password_request_when_no_password_is_given() {
    let port = cluster().port;
    let path = std::env::temp_dir().join(format!("waiter-pgpass-{}", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "# host:port:database:user:password\n\
             127.0.0.1:{port}:other_db:waiter_scram:wrong\n\
             127.0.0.1:{port}:*:waiter_scram:scram-secret\n\
             *:*:*:waiter_md5:md5-secret\n"
        ),
    )
    .unwrap();
    let with_file = |user: &str| Config { passfile: Some(path.clone()), ..url(user, None).parse().unwrap() };
    run(async {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        for user in ["waiter_scram", "waiter_md5"] {
            let client = waiter_pg::connect_with(&with_file(user)).await.unwrap();
            let row = client.query_one("SELECT current_user::text", &[]).await.unwrap();
            assert_eq!(row.get::<String>(0), user);
        }
        // No line for this user: no password to give.
        let e = waiter_pg::connect_with(&with_file("waiter_clear")).await.unwrap_err();
        assert!(matches!(e, Error::Auth(_)), "{e}");
        // A file others may read is ignored, as libpq does.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = waiter_pg::connect_with(&with_file("waiter_scram")).await.unwrap_err();
        assert!(matches!(e, Error::Auth(_)), "{e}");
    });
    std::fs::remove_file(&path).unwrap();
}

/// Run only as the child of the test below, in its own process with its
/// own environment (`--ignored` keeps it out of ordinary runs).
#[test]
#[ignore = "the child half of from_env_reads_the_process_environment"]
fn from_env_child() {
    let c = Config::from_env().unwrap().apply("postgres://url_user@/url_db").unwrap();
    assert_eq!(c.host, waiter_pg::Host::Tcp("env.example".into()));
    assert_eq!((c.port, c.user.as_str(), c.password.as_deref()), (6543, "url_user", Some("env-secret")));
    assert_eq!((c.database(), c.application_name.as_deref()), ("url_db", Some("env_app")));
    assert_eq!(c.connect_timeout, Some(std::time::Duration::from_secs(9)));
    assert_eq!(c.passfile.as_deref(), Some(std::path::Path::new("/nonexistent/home/.pgpass")));
}

#[test]
fn from_env_reads_the_process_environment() {
    // The variables are set in a child process only: tests in this process
    // never race on its environment.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "from_env_child", "--ignored", "--nocapture"])
        .env_clear()
        .envs([
            ("PGHOST", "env.example"),
            ("PGPORT", "6543"),
            ("PGUSER", "env_user"),
            ("PGPASSWORD", "env-secret"),
            ("PGDATABASE", "env_db"),
            ("PGAPPNAME", "env_app"),
            ("PGCONNECT_TIMEOUT", "9"),
            ("HOME", "/nonexistent/home"),
        ])
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{log}");
    assert!(log.contains("1 passed"), "the child test did not run:\n{log}");
}
