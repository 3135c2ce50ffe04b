//! `poll_readable`, the poll form of `readable`: pending while nothing has
//! arrived, woken and ready once data comes, and the data is then there.

use std::future::poll_fn;
use std::task::Poll;
use std::time::Duration;

use waiter_loop::net::UnixStream;
use waiter_loop::Loop;

#[test]
fn poll_readable_waits_for_data() {
    let lp = Loop::new().unwrap();
    let (a, b) = UnixStream::pair(&lp).unwrap();
    let got = lp.block_on(async {
        // Nothing sent yet: a try_read says so and clears the optimistic readiness.
        let mut buf = [0u8; 8];
        assert_eq!(a.try_read(&mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        let mut polls = 0;
        let writer = waiter_loop::spawn(async move {
            waiter_loop::Loop::current().unwrap().sleep(Duration::from_millis(20)).unwrap().await;
            b.write_all(b"ping").await.unwrap();
            b
        });
        poll_fn(|cx| {
            polls += 1;
            a.poll_readable(cx)
        })
        .await
        .unwrap();
        assert!(polls >= 2, "ready before anything was written ({polls} polls)");
        let n = a.try_read(&mut buf).unwrap();
        drop(writer.await);
        buf[..n].to_vec()
    });
    assert_eq!(got, b"ping");
    let waited = lp.block_on(async { poll_fn(|cx| Poll::Ready(a.poll_readable(cx).is_ready())).await });
    assert!(!waited, "no new data, yet readable");
}
