//! A read cancelled by a timeout leaves no waker behind: the loop can end
//! while the socket still exists (a dropped operation used to count as an
//! active handle forever).

use std::time::{Duration, Instant};

use waiter_loop::net::UnixStream;
use waiter_loop::Loop;

#[test]
fn cancelled_read_does_not_hold_the_loop() {
    let lp = Loop::new().unwrap();
    let (a, _b) = UnixStream::pair(&lp).unwrap();
    let started = Instant::now();
    let outcome = lp.block_on(async {
        let mut buf = [0u8; 16];
        lp.timeout(Duration::from_millis(20), a.read(&mut buf)).unwrap().await
    });
    assert!(outcome.is_err(), "nothing was written, so the read must time out: {outcome:?}");
    assert!(started.elapsed() >= Duration::from_millis(20), "timed out early: {:?}", started.elapsed());
    assert_eq!(lp.active_handles(), 0, "the cancelled read still counts as active");
    assert!(!lp.is_alive());
    let ran = Instant::now();
    lp.run().unwrap();
    assert!(ran.elapsed() < Duration::from_millis(100), "run() waited for a dropped read");

    // The socket still works afterwards: a new read sees new data.
    let got = lp.block_on(async {
        _b.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 16];
        let n = a.read(&mut buf).await.unwrap();
        buf[..n].to_vec()
    });
    assert_eq!(got, b"hi");
}
