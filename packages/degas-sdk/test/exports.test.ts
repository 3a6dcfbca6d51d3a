// The public surface, so that a change to it shows up in review.
test('@degas/degas-sdk export list', async () => {
  const mod = await import('../src/index.js');
  expect(Object.keys(mod).sort()).toMatchSnapshot();
});
