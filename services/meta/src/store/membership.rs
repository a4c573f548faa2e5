//! Membership changes that cannot wedge the quorum: a new voter is promoted only once it has
//! caught up as a learner.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers};
use strata_core::meta::MetaError;

use super::{LocalWriteError, RaftMetaStore};
use crate::wire::MembershipChange;

impl RaftMetaStore {
    /// Changes the voters (on the leader). A new voter joins as a learner and is promoted
    /// only once it has caught up; one that does not catch up in time (unreachable, too slow)
    /// is removed again, so a failed add leaves the membership as it was and can never leave a
    /// quorum that cannot commit. Refusals are [`MetaError::Invalid`] with a sentence.
    pub async fn change_membership(
        &self,
        change: &MembershipChange,
    ) -> Result<(), LocalWriteError> {
        if self.leader().map(|(id, _)| id) != Some(self.node.0) {
            return Err(LocalWriteError::NotLeader(self.leader()));
        }
        let refused = |reason: String| LocalWriteError::Failed(MetaError::Invalid { reason });
        let fail = |e: RaftError<u64, ClientWriteError<u64, BasicNode>>| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                LocalWriteError::NotLeader(f.leader_id.zip(f.leader_node.map(|n| n.addr)))
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                LocalWriteError::Failed(MetaError::Invalid {
                    reason: format!("the quorum refused the membership change: {e}"),
                })
            }
            RaftError::Fatal(e) => LocalWriteError::Failed(MetaError::Unavailable {
                reason: format!("raft stopped: {e}"),
            }),
        };
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let voters: BTreeSet<u64> = membership.membership().voter_ids().collect();
        match change {
            MembershipChange::AddVoter {
                id,
                addr,
                catch_up_ms,
            } => {
                if voters.contains(id) {
                    return Ok(());
                }
                let wait = Duration::from_millis(catch_up_ms.unwrap_or(30_000));
                self.bounded(self.raft.add_learner(*id, BasicNode::new(addr), false))
                    .await?
                    .map_err(fail)?;
                if let Err(lag) = self.wait_caught_up(*id, wait).await {
                    let why = probe_reason(&self.peering, addr).await;
                    let removed = self
                        .bounded(self.raft.change_membership(
                            ChangeMembers::RemoveNodes(BTreeSet::from([*id])),
                            false,
                        ))
                        .await;
                    let left = match removed {
                        Ok(Ok(_)) => "the membership is unchanged".to_string(),
                        Ok(Err(e)) => {
                            format!("removing it again failed too ({e}); run remove-voter {id}")
                        }
                        Err(_) => format!(
                            "removing it again was not answered in time; run remove-voter {id}"
                        ),
                    };
                    return Err(refused(format!(
                        "voter {id} at {addr} did not catch up within {} s ({lag}; {why}), so it was not added: {left}",
                        wait.as_secs()
                    )));
                }
                self.bounded(
                    self.raft.change_membership(
                        ChangeMembers::AddVoterIds(BTreeSet::from([*id])),
                        false,
                    ),
                )
                .await?
                .map_err(fail)?;
            }
            MembershipChange::RemoveVoter { id } => {
                let known = membership.membership().get_node(id).is_some();
                if !known {
                    return Err(refused(format!(
                        "node {id} is neither a voter nor a learner (voters: {voters:?})"
                    )));
                }
                if voters.len() == 1 && voters.contains(id) {
                    return Err(refused(format!(
                        "voter {id} is the only voter: add another one before removing it"
                    )));
                }
                let change = if voters.contains(id) {
                    ChangeMembers::RemoveVoters(BTreeSet::from([*id]))
                } else {
                    ChangeMembers::RemoveNodes(BTreeSet::from([*id]))
                };
                self.bounded(self.raft.change_membership(change, false))
                    .await?
                    .map_err(fail)?;
            }
        }
        Ok(())
    }

    /// Waits for one of openraft's membership calls for at most the write timeout. A leader
    /// deposed before its change committed is never answered (openraft keeps the caller
    /// waiting for an entry that the new leader replaced, or that it no longer receives once
    /// it removed itself), so the caller is told instead of waiting forever (found by the
    /// simulator, seeds 6894 and 8053; design note 0016).
    async fn bounded<T>(&self, call: impl Future<Output = T>) -> Result<T, LocalWriteError> {
        tokio::time::timeout(self.write_timeout, call)
            .await
            .map_err(|_| {
                LocalWriteError::Failed(MetaError::Unavailable {
                    reason: format!(
                        "the membership change was proposed but not answered within {:?}: this \
                         voter may have lost its leadership. Check `strata quorum status`; \
                         repeating the change is safe",
                        self.write_timeout
                    ),
                })
            })
    }

    /// Waits until learner `id` holds (nearly) the whole log; on timeout says how far it got.
    async fn wait_caught_up(&self, id: u64, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = self.raft.metrics().borrow().clone();
            let last = m.last_log_index.unwrap_or(0);
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&id).cloned())
                .flatten()
                .map(|l| l.index);
            if let Some(matched) = matched
                && matched + 10 >= last
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(match matched {
                    Some(i) => format!("it holds the log up to index {i} of {last}"),
                    None => "it acknowledged nothing".to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Says whether a prospective voter answers at all, for an error message.
async fn probe_reason(peering: &crate::peering::Peering, addr: &str) -> String {
    let http = peering.client(Duration::from_secs(2));
    match http
        .get(peering.url(addr, "/internal/meta/status"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => "it answers, but is too slow to catch up".to_string(),
        Ok(r) => format!("it answers {}: is it a strata voter?", r.status()),
        Err(e) if e.is_connect() => "nothing answers at that address".to_string(),
        Err(e) if e.is_timeout() => "it does not answer within 2 s".to_string(),
        Err(_) => "it cannot be reached".to_string(),
    }
}
