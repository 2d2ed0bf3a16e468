/**
 * The supported runtime is Node 24 LTS. The project pins it as a devDependency (npm's `node` package), so every
 * `npm run` script, jest included, runs on it even where the machine's own Node is older.
 */
describe('runtime', () => {
  it('is Node 24', () => {
    expect(Number(process.versions.node.split('.')[0])).toBe(24);
  });
});
