'use strict';
// @actions/http-client imports ProxyAgent from undici for one method, getAgentDispatcher(), which
// gives a fetch() dispatcher behind a proxy. The shipyard actions never call it (they speak HTTP
// through node:http and the AWS SDK), and the real undici adds about 400 KB to every bundle.
// Should someone start using it, this fails loudly instead of ignoring the proxy.
class ProxyAgent {
  constructor() {
    throw new Error(
      'shipyard bundles do not include undici: HttpClient.getAgentDispatcher() is not available (see shims/README.md)',
    );
  }
}
exports.ProxyAgent = ProxyAgent;
