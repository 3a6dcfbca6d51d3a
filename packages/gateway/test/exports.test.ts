// The public surface, so that a change to it shows up in review.
test('@degas/gateway export list', async () => {
  const names = Object.keys(await import('../src/index.js')).sort();
  expect(names).toEqual(
    [
      'ConfigError',
      'Delivery',
      'LocalRegistry',
      'METRICS_CONTENT_TYPE',
      'TlsFileError',
      'addAccount',
      'buildGatewayOptions',
      'chainDegasDirectories',
      'createFileAccountDirectory',
      'createLogger',
      'createNatsRegistry',
      'createRpcAccountDirectory',
      'createStaticDegasDirectory',
      'createTemplateDegasDirectory',
      'createVerifier',
      'isLogLevel',
      'loadConfig',
      'loadDegasFile',
      'renderMetrics',
      'silentLogger',
      'startGateway',
    ].sort(),
  );
});
