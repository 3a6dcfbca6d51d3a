// SPDX-License-Identifier: MIT
// Minimal smart-contract wallets for the gateway's contract-wallet login tests (ERC-1271 and
// ERC-6492, PROTOCOL.md 4.2 step 5). Test fixtures only: never deploy them anywhere real.
pragma solidity 0.8.37;

/// ERC-1271 wallet controlled by one owner key: a signature is valid when it is the owner's
/// 65-byte ECDSA signature (r, s, v) of the hash itself.
contract OwnerWallet {
    bytes4 internal constant MAGIC = 0x1626ba7e;
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) return 0xffffffff;
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        address signer = ecrecover(hash, v, r, s);
        return signer != address(0) && signer == owner ? MAGIC : bytes4(0xffffffff);
    }
}

/// Answers every signature with a value that is not the ERC-1271 magic value (0x1626ba7f).
contract WrongMagicWallet {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        return 0x1626ba7f;
    }
}

/// Answers the magic value's first four bytes followed by non-zero bytes: not an ABI-encoded bytes4.
contract DirtyMagicWallet {
    fallback() external {
        assembly {
            mstore(0, 0x1626ba7e00000000000000000000000000000000000000000000000000000001)
            return(0, 32)
        }
    }
}

/// Reverts on every check.
contract RevertingWallet {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        revert("RevertingWallet: no");
    }
}

/// Burns all the gas it is given: a loop that touches ever more memory (whose cost grows
/// quadratically) ends only when the gas does. With unlimited gas it would answer the magic value.
contract GasBurnerWallet {
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        assembly {
            for { let p := 0 } 1 { p := add(p, 32768) } { mstore(p, p) }
        }
        return 0x1626ba7e;
    }
}

/// CREATE2 factory of OwnerWallets: the address of a wallet is known before it is deployed, which
/// is what ERC-6492 counterfactual signatures rely on.
contract OwnerWalletFactory {
    event Deployed(address wallet);

    function deploy(address owner, bytes32 salt) external returns (address wallet) {
        wallet = walletAddress(owner, salt);
        if (wallet.code.length == 0) {
            wallet = address(new OwnerWallet{salt: salt}(owner));
            emit Deployed(wallet);
        }
    }

    function walletAddress(address owner, bytes32 salt) public view returns (address) {
        bytes32 codeHash = keccak256(abi.encodePacked(type(OwnerWallet).creationCode, abi.encode(owner)));
        return address(uint160(uint256(keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, codeHash)))));
    }
}
