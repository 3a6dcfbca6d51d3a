// The public surface, so that a change to it shows up in review.
test('@degas/client export list', async () => {
  const mod = await import('../src/index.js');
  expect(Object.keys(mod).sort()).toMatchSnapshot();
});

test('@degas/client/node exports the same names plus NodeClientWebSocket and nodeWebSocket, with a ws-backed DegasClient', async () => {
  const browser = await import('../src/index.js');
  const node = await import('../src/node.js');
  expect(Object.keys(node).sort()).toEqual([...Object.keys(browser), 'NodeClientWebSocket', 'nodeWebSocket'].sort());
  expect(node.DegasClient).not.toBe(browser.DegasClient);
  expect(
    new node.DegasClient({ url: 'ws://x', accountId: browser.randomId(), signer: browser.generatePrivateKey() }),
  ).toBeInstanceOf(browser.DegasClient);
});
