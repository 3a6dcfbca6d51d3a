describe('public surface', () => {
  it('exports exactly the documented names', async () => {
    expect(Object.keys(await import('./index.js')).sort()).toEqual([
      'AuthEthError',
      'DEFAULT_AUTH_DOMAIN',
      'DEFAULT_AUTH_MESSAGE',
      'DEFAULT_CHAIN_ID',
      'MAX_CHAIN_ID',
      'MAX_WALLET_SIGNATURE_LENGTH',
      'SIGNATURE_LENGTH',
      'bytesToHex',
      'checkChainId',
      'createChallenge',
      'eip1193Signer',
      'generatePrivateKey',
      'hashTypedData',
      'hexToBytes',
      'isAddress',
      'loginDigest',
      'loginTypedData',
      'normalizeAddress',
      'parseAddress',
      'parseChallenge',
      'parseSignature',
      'privateKeySigner',
      'privateKeyToAddress',
      'publicKeyToAddress',
      'recoverAddress',
      'toChecksumAddress',
      'toSigner',
      'typedDataSigner',
      'verifyLogin',
    ]);
  });

  it('has the documented constants', async () => {
    const m = await import('./index.js');
    expect(m.DEFAULT_AUTH_DOMAIN).toBe('Degas Authentication');
    expect(m.SIGNATURE_LENGTH).toBe(65);
    expect(m.MAX_WALLET_SIGNATURE_LENGTH).toBe(8192);
    expect(m.DEFAULT_CHAIN_ID).toBe(1);
    expect(m.MAX_CHAIN_ID).toBe(Number.MAX_SAFE_INTEGER);
    expect(m.DEFAULT_AUTH_MESSAGE).toMatch(/free/);
    expect(m.DEFAULT_AUTH_MESSAGE).toMatch(/transaction/);
    expect(m.DEFAULT_AUTH_MESSAGE).toMatch(/spend/);
  });

  it('AuthEthError is a real Error with a literal name, a code and a cause', async () => {
    const { AuthEthError } = await import('./index.js');
    const cause = new Error('inner');
    const err = new AuthEthError('SIGNER_ERROR', 'wallet failed', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(AuthEthError);
    expect(err.name).toBe('AuthEthError');
    expect(err.code).toBe('SIGNER_ERROR');
    expect(err.message).toBe('wallet failed');
    expect(err.cause).toBe(cause);
    expect(new AuthEthError('INVALID_ADDRESS', 'x').cause).toBeUndefined();
  });
});
