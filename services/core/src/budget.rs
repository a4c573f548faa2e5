//! [`Budget`]: the one admission type of a node. A budget of bytes shared by requests; what a
//! request takes it holds until it drops it, and a request that finds no room is refused at
//! once (never queued: a full node answers "retry shortly" rather than growing a queue).
//! The HTTP layer's budget of request bodies being received and the write path's staging
//! quota (bytes accepted and not yet committed) are both budgets.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A shared budget of bytes.
#[derive(Debug, Clone)]
pub struct Budget {
    room: Arc<Semaphore>,
    capacity: u64,
}

/// The budget had no room for what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the budget of {capacity} bytes is full")]
pub struct Full {
    /// The budget's capacity.
    pub capacity: u64,
}

/// Bytes taken from a [`Budget`], given back when dropped.
#[derive(Debug)]
pub struct Held {
    permit: OwnedSemaphorePermit,
    budget: Budget,
}

impl Budget {
    /// A budget of `capacity` bytes (at least 1, at most what a semaphore counts).
    pub fn new(capacity: u64) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS as u64);
        Self {
            room: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
        }
    }

    /// Its capacity.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes held now.
    pub fn in_use(&self) -> u64 {
        self.capacity
            .saturating_sub(self.room.available_permits() as u64)
    }

    /// Takes `bytes` (at least 1, at most the capacity, so any request can be admitted alone)
    /// now, or fails with [`Full`].
    pub fn try_take(&self, bytes: u64) -> Result<Held, Full> {
        let n = bytes.clamp(1, self.capacity).min(u64::from(u32::MAX)) as u32;
        let permit = self
            .room
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| Full {
                capacity: self.capacity,
            })?;
        Ok(Held {
            permit,
            budget: self.clone(),
        })
    }
}

impl Held {
    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.permit.num_permits() as u64
    }

    /// Holds at least `bytes` (at most the budget's capacity), taking the difference now, or
    /// fails with [`Full`] and keeps what it held.
    pub fn grow_to(&mut self, bytes: u64) -> Result<(), Full> {
        let want = bytes.min(self.budget.capacity);
        if want > self.bytes() {
            let more = self.budget.try_take(want - self.bytes())?;
            self.permit.merge(more.permit);
        }
        Ok(())
    }

    /// Whether this holds the whole budget (it cannot grow further).
    pub fn holds_all(&self) -> bool {
        self.bytes() >= self.budget.capacity
    }
}

#[cfg(test)]
mod tests;
