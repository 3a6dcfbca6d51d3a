// The public surface, so that a change to it shows up in review.
test('@degas/gateway export list', async () => {
  expect(Object.keys(await import('../src/index.js')).sort()).toMatchSnapshot();
});
