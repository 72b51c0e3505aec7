//! The worker thread and the handles IO handlers use to reach it.
use crate::ShardId;
use crate::message::Batch;

/// Settings shared by all shards.
#[derive(Debug, Clone)]
pub struct ShardConfig {
    /// Number of databases per shard (`databases`, 16 by default).
    pub databases: usize,
    /// Active-expiry cycles per second (`hz`, 10 by default).
    pub hz: u32,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig { databases: 16, hz: 10 }
    }
}

/// A cheap, cloneable way to send batches to one worker.
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    shard: ShardId,
    tx: flume::Sender<Batch>,
    stats: std::sync::Arc<crate::ShardStats>,
}

impl WorkerHandle {
    /// The shard this worker owns.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// The shard's statistics, updated by the worker.
    pub fn stats(&self) -> &crate::ShardStats {
        &self.stats
    }

    /// Queues a batch; never blocks. Returns false if the worker has stopped.
    pub fn send(&self, batch: Batch) -> bool {
        self.tx.send(batch).is_ok()
    }
}

/// The running workers, one per shard.
#[derive(Debug)]
pub struct WorkerPool {
    handles: Vec<WorkerHandle>,
}

impl WorkerPool {
    /// Starts `count` workers.
    pub fn spawn(count: usize, config: ShardConfig) -> std::io::Result<WorkerPool> {
        let _ = (count, config);
        unimplemented!("workers land with the worker-shard work")
    }

    /// Handles to every worker, indexed by shard.
    pub fn handles(&self) -> &[WorkerHandle] {
        &self.handles
    }

    /// Stops every worker after it has finished the batches it already received, and joins them.
    pub fn shutdown(self) {}
}
