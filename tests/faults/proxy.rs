//! A TCP proxy in front of Postgres that plays the part of DNS or a virtual IP during a
//! failover: it can switch where new connections go, cut every connection, or stall them
//! (keep every socket open and forward nothing, as a partition or a NAT dropping a flow does),
//! and heal (forward again what waited, as TCP does once packets flow).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU16, AtomicUsize, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

struct Shared {
    /// Where new connections go (a port on 127.0.0.1).
    target: AtomicU16,
    /// `true`: nothing is forwarded, on old and new connections alike.
    stalled: watch::Sender<bool>,
    /// Bumped to cut every open connection.
    cuts: watch::Sender<u64>,
    opened: AtomicUsize,
}

/// The proxy; it stops with the test's runtime.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
}

impl Proxy {
    pub async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let shared = Arc::new(Shared {
            target: AtomicU16::new(target),
            stalled: watch::Sender::new(false),
            cuts: watch::Sender::new(0),
            opened: AtomicUsize::new(0),
        });
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                s.opened.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(relay(client, s.clone()));
            }
        });
        Proxy { port, shared }
    }

    /// A server URL (no database) that goes through the proxy.
    pub fn server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// New connections go to `port` from now on; open ones stay where they are.
    pub fn switch_to(&self, port: u16) {
        self.shared.target.store(port, Ordering::SeqCst);
    }

    /// Closes every open connection, both ways.
    pub fn cut(&self) {
        self.shared.cuts.send_modify(|n| *n += 1);
    }

    /// Stops forwarding anything (sockets stay open), or forwards again.
    pub fn stall(&self, on: bool) {
        self.shared.stalled.send_replace(on);
    }

    /// Connections accepted so far.
    pub fn opened(&self) -> usize {
        self.shared.opened.load(Ordering::Relaxed)
    }
}

async fn relay(client: TcpStream, shared: Arc<Shared>) {
    let mut cuts = shared.cuts.subscribe();
    cuts.mark_unchanged();
    let target = SocketAddr::from(([127, 0, 0, 1], shared.target.load(Ordering::SeqCst)));
    // A stalled network does not connect either: wait (or be cut) like the rest.
    let mut stalled = shared.stalled.subscribe();
    let upstream = tokio::select! {
        _ = until(&mut stalled, false) => TcpStream::connect(target).await,
        _ = cuts.changed() => return,
    };
    let Ok(upstream) = upstream else {
        return; // the node is down: the client sees its connection closed
    };
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let there = pump(client_read, upstream_write, shared.stalled.subscribe());
    let back = pump(upstream_read, client_write, shared.stalled.subscribe());
    // Either direction ending (EOF, an error, a cut) ends both: the sockets are dropped.
    tokio::select! {
        _ = there => {}
        _ = back => {}
        _ = cuts.changed() => {}
    }
}

/// Copies `from` to `to`, reading nothing while the network is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !until(&mut stalled, false).await {
            return;
        }
        let n = tokio::select! {
            read = from.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            },
            // Stalled while waiting to read: go back to waiting for the heal.
            _ = until(&mut stalled, true) => continue,
        };
        // Bytes read just as the stall began are held until it heals.
        if !until(&mut stalled, false).await || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Waits until the stall is `on` (or off); `false` if the proxy is gone.
async fn until(stalled: &mut watch::Receiver<bool>, on: bool) -> bool {
    stalled.wait_for(|s| *s == on).await.is_ok()
}
