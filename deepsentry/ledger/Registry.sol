// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title deepsentry provenance registry
/// @notice Anchors hashes of labelled media (never the media or manifests themselves), indexed by
///         content hash (SHA-256 of the final file) and by soft-binding value (the watermark id), plus
///         a consent-revocation registry. Compiled by deepsentry/ledger/compile.py with the pinned solc-js.
contract ProvenanceRegistry {
    struct Record {
        bytes32 contentHash;
        bytes32 manifestHash;
        uint64 watermarkId;
        bytes fingerprint;
        bytes32 consentHash;
        string uri;
        address registrant;
        uint64 timestamp;
        uint64 blockNumber;
        bool revoked;
    }

    struct Consent {
        address owner;
        bytes32 revocationCommit;
        bool revoked;
        uint64 revokedAt;
    }

    mapping(bytes32 => Record) private records;
    mapping(uint64 => bytes32) private byWatermark;
    mapping(bytes32 => Consent) private consents;
    uint256 public recordCount;

    event Registered(bytes32 indexed contentHash, uint64 indexed watermarkId, address indexed registrant,
                     bytes32 manifestHash, bytes32 consentHash);
    event Revoked(bytes32 indexed contentHash, uint64 indexed watermarkId, address indexed registrant);
    event ConsentRegistered(bytes32 indexed consentHash, address indexed owner);
    event ConsentRevoked(bytes32 indexed consentHash, address indexed by);

    error EmptyContentHash();
    error AlreadyRegistered(bytes32 contentHash);
    error WatermarkTaken(uint64 watermarkId);
    error NotRegistered(bytes32 contentHash);
    error NotRegistrant(bytes32 contentHash);
    error AlreadyRevoked(bytes32 contentHash);
    error ConsentTaken(bytes32 consentHash);
    error NotConsentOwner(bytes32 consentHash);

    /// Register a file. watermarkId 0 means "no soft binding"; a non-zero id may be used once.
    function register(bytes32 contentHash, bytes32 manifestHash, uint64 watermarkId, bytes calldata fingerprint,
                      bytes32 consentHash, string calldata uri) external {
        if (contentHash == bytes32(0)) revert EmptyContentHash();
        if (records[contentHash].registrant != address(0)) revert AlreadyRegistered(contentHash);
        if (watermarkId != 0) {
            if (byWatermark[watermarkId] != bytes32(0)) revert WatermarkTaken(watermarkId);
            byWatermark[watermarkId] = contentHash;
        }
        records[contentHash] = Record(contentHash, manifestHash, watermarkId, fingerprint, consentHash, uri,
                                      msg.sender, uint64(block.timestamp), uint64(block.number), false);
        recordCount += 1;
        emit Registered(contentHash, watermarkId, msg.sender, manifestHash, consentHash);
    }

    /// Only the registrant may revoke its record; the record stays readable, flagged revoked.
    function revoke(bytes32 contentHash) external {
        Record storage r = records[contentHash];
        if (r.registrant == address(0)) revert NotRegistered(contentHash);
        if (r.registrant != msg.sender) revert NotRegistrant(contentHash);
        if (r.revoked) revert AlreadyRevoked(contentHash);
        r.revoked = true;
        emit Revoked(contentHash, r.watermarkId, msg.sender);
    }

    function getByContentHash(bytes32 contentHash) external view returns (Record memory) {
        return records[contentHash];
    }

    function getByWatermark(uint64 watermarkId) external view returns (Record memory) {
        return records[byWatermark[watermarkId]];
    }

    function isWatermarkTaken(uint64 watermarkId) external view returns (bool) {
        return byWatermark[watermarkId] != bytes32(0);
    }

    /// Claim a consent hash. revocationCommit = keccak256(secret) lets whoever holds the secret (the
    /// subject) revoke later from any account; 0 means only the owner may revoke.
    function registerConsent(bytes32 consentHash, bytes32 revocationCommit) external {
        if (consents[consentHash].owner != address(0)) revert ConsentTaken(consentHash);
        consents[consentHash] = Consent(msg.sender, revocationCommit, false, 0);
        emit ConsentRegistered(consentHash, msg.sender);
    }

    /// Revoke a consent: its owner, or anyone revealing the secret behind its revocationCommit. An
    /// unclaimed consent hash may be revoked by anyone (revocation only ever withdraws permission).
    function revokeConsent(bytes32 consentHash, bytes calldata secret) external {
        Consent storage c = consents[consentHash];
        if (c.revoked) return;
        if (c.owner == address(0)) {
            c.owner = msg.sender;
        } else if (c.owner != msg.sender
                   && (c.revocationCommit == bytes32(0) || keccak256(secret) != c.revocationCommit)) {
            revert NotConsentOwner(consentHash);
        }
        c.revoked = true;
        c.revokedAt = uint64(block.timestamp);
        emit ConsentRevoked(consentHash, msg.sender);
    }

    function isConsentRevoked(bytes32 consentHash) external view returns (bool) {
        return consents[consentHash].revoked;
    }

    function getConsent(bytes32 consentHash) external view returns (Consent memory) {
        return consents[consentHash];
    }

    /// Self-description for federated lookup (as proposed by the C2PA soft-binding guidance).
    function describe() external pure returns (string memory) {
        return '{"name":"deepsentry provenance registry","version":1,'
               '"contentHash":"sha256","softBinding":{"alg":"com.deepsentry.watermark","lookup":"getByWatermark(uint64)"},'
               '"lookups":["getByContentHash(bytes32)","getByWatermark(uint64)","isConsentRevoked(bytes32)"],'
               '"anchors":"hashes only, never manifests"}';
    }
}
