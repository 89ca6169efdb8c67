/** Loopback servers for the stand-ins, the tests and the benches. */
import net, { type AddressInfo } from 'node:net';

/**
 * Listen on a free port that really reaches this server. A host port forward left behind by a
 * container killed while it started (podman's netavark DNAT rule, seen after SIGKILL tests) sends
 * a loopback port to a dead container: a server that gets that port is never reached, and the
 * probe reads "connection refused". One connection checks it; such a port is given up.
 */
export async function listenOnReachablePort(server: net.Server, host: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    const { port } = server.address() as AddressInfo;
    if (await reachesServer(server, host, port)) return port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (attempt === 5) throw new Error(`no port on ${host} reached the test server`);
  }
}

function reachesServer(server: net.Server, host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host);
    const done = (reached: boolean) => {
      clearTimeout(timer);
      server.off('connection', seen);
      socket.destroy();
      resolve(reached);
    };
    // The server is new and its URL not given out yet: a connection now is this one.
    const seen = () => done(true);
    const timer = setTimeout(() => done(false), 2000);
    server.on('connection', seen);
    socket.on('error', () => done(false));
  });
}
