//! Non-blocking sockets on the loop: TCP, UDP and Unix streams, async and callback forms.
