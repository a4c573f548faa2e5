//! Raft's transport: openraft's RPCs as JSON over HTTP between voters.

use std::time::Duration;

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::peering::Peering;
use crate::types::{RaftNodeId, TypeConfig};

/// Opens HTTP connections to peers, sharing one connection pool.
#[derive(Debug, Clone)]
pub struct HttpNetwork {
    http: reqwest::Client,
    peering: Peering,
}

impl HttpNetwork {
    /// Sends Raft's messages as `peering` says (the cluster secret, HTTPS).
    pub fn new(peering: &Peering) -> Self {
        Self {
            http: peering
                .builder(Duration::from_millis(500))
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .expect("an http client builds: its certificates were checked when configured"),
            peering: peering.clone(),
        }
    }
}

/// A connection to one peer.
#[derive(Debug, Clone)]
pub struct HttpPeer {
    http: reqwest::Client,
    peering: Peering,
    target: RaftNodeId,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = HttpPeer;

    async fn new_client(&mut self, target: RaftNodeId, node: &BasicNode) -> Self::Network {
        HttpPeer {
            http: self.http.clone(),
            peering: self.peering.clone(),
            target,
            addr: node.addr.clone(),
        }
    }
}

impl HttpPeer {
    async fn rpc<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let resp = self
            .http
            .post(
                self.peering
                    .url(&self.addr, &format!("/internal/raft/{path}")),
            )
            .json(req)
            .timeout(option.hard_ttl())
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        if !resp.status().is_success() {
            let e = std::io::Error::other(format!("{} answered {}", self.addr, resp.status()));
            return Err(RPCError::Network(NetworkError::new(&e)));
        }
        let result: Result<Resp, RaftError<RaftNodeId, E>> = resp
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

type RpcResult<T, E = RaftError<RaftNodeId>> = Result<T, RPCError<RaftNodeId, BasicNode, E>>;

impl RaftNetwork<TypeConfig> for HttpPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<RaftNodeId>> {
        self.rpc("append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<RaftNodeId>, RaftError<RaftNodeId, InstallSnapshotError>>
    {
        self.rpc("snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<RaftNodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<RaftNodeId>> {
        self.rpc("vote", &rpc, &option).await
    }
}
