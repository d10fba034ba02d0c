//! The local connection gateway: what API Gateway's management API is on AWS. Each live
//! WebSocket registers an outbound channel under its connection id; posting a frame is a map
//! lookup and a channel send, so no lock is held while a frame travels. As on API Gateway, a
//! connection accepts frames only once its handshake has completed (`open`): before that, and
//! after it closes, a post answers Gone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::error::Result;
use crate::ports::{ConnectionGateway, PostError};
use crate::sync::{read, write};

/// What a connection's writer task receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outbound {
    Frame(String),
    Close,
}

/// A connection's outbound channel, and whether its handshake has completed.
type Slot = (mpsc::UnboundedSender<Outbound>, bool);

#[derive(Clone, Default)]
pub struct MemoryGateway {
    senders: Arc<RwLock<HashMap<String, Slot>>>,
}

impl MemoryGateway {
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates the outbound side of a connection whose handshake is under way.
    pub fn attach(&self, connection_id: &str) -> mpsc::UnboundedReceiver<Outbound> {
        let (sender, receiver) = mpsc::unbounded_channel();
        write(&self.senders).insert(connection_id.to_owned(), (sender, false));
        receiver
    }

    /// The handshake completed: frames may be posted from now on.
    pub fn open(&self, connection_id: &str) {
        if let Some((_, open)) = write(&self.senders).get_mut(connection_id) {
            *open = true;
        }
    }

    pub fn detach(&self, connection_id: &str) {
        write(&self.senders).remove(connection_id);
    }

    pub fn is_live(&self, connection_id: &str) -> bool {
        self.sender(connection_id).is_some_and(|s| !s.is_closed())
    }

    /// The outbound channel of an open connection.
    fn sender(&self, connection_id: &str) -> Option<mpsc::UnboundedSender<Outbound>> {
        let senders = read(&self.senders);
        senders.get(connection_id).filter(|(_, open)| *open).map(|(sender, _)| sender.clone())
    }
}

#[async_trait]
impl ConnectionGateway for MemoryGateway {
    async fn post(&self, connection_id: &str, frame: &str) -> Result<(), PostError> {
        let sender = self.sender(connection_id).ok_or(PostError::Gone)?;
        sender.send(Outbound::Frame(frame.to_owned())).map_err(|_| PostError::Gone)
    }

    async fn close(&self, connection_id: &str) -> Result<()> {
        let senders = read(&self.senders);
        if let Some((sender, _)) = senders.get(connection_id) {
            let _ = sender.send(Outbound::Close);
        }
        Ok(())
    }
}
