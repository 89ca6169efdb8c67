// The post step: the main bundle, told which step it is (see ../../index.ts).
process.env.SHIPYARD_STEP = 'post';
await import('../index.js');
