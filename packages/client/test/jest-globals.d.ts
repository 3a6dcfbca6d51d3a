// `@jest/globals` is what jest resolves at run time in ESM mode, but it is not a dependency
// this package can see for type checking; its `jest` object has the type of @types/jest's.
declare module '@jest/globals' {
  const jestObject: typeof jest;

  export { jestObject as jest };
}
