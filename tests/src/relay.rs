//! Reaching a server that listens on a namespace's loopback from this machine's own loopback:
//! the demo's web console, for a person's browser. Each connection accepted here is joined to
//! a connection made inside the namespace, bytes copied both ways until either side closes.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::netns::Lan;

/// Forwards connections from `listener` to `target` inside `namespace` until `stop` is set.
pub fn forward(
    lan: &Lan,
    namespace: &str,
    listener: &TcpListener,
    target: SocketAddr,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((client, _)) => {
                client.set_nonblocking(false)?;
                let Ok(Ok(server)) = lan.in_namespace(namespace, || TcpStream::connect(target))
                else {
                    continue;
                };
                std::thread::spawn(move || pipe(client, server));
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

fn pipe(client: TcpStream, server: TcpStream) {
    let (Ok(mut client_read), Ok(mut server_write)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut server_write);
        let _ = server_write.shutdown(Shutdown::Write);
    });
    let (mut server_read, mut client_write) = (server, client);
    let _ = std::io::copy(&mut server_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = upstream.join();
}
