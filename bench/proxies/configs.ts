// Equivalent proxy configurations for nginx and HAProxy: one worker / one thread unless `workers`
// says otherwise (the all-cores case), upstream keep-alive, no access log, so that they do the same
// job as Portico.
//
// Frontends: `http` (HTTP/1.1 cleartext), `https` (TLS 1.3, ALPN h2 and http/1.1), `h2c` (HTTP/2
// prior knowledge, cleartext), `grpc` (h2c in front, h2c to a gRPC backend). Layer 4 (`tcp`, and
// TLS passthrough by SNI): HAProxy `mode tcp`, nginx `stream` (a dynamic module on Debian).

export type Frontend = 'http' | 'https' | 'h2c' | 'grpc';

export interface ProxyConfig {
  listenPort: number;
  backendPort: number;
  /** Scratch directory for pid, logs and temp files. */
  dir: string;
  frontend: Frontend;
  /** PEM files for `https`: certificate, key, and both concatenated (HAProxy wants one file). */
  tls?: { cert: string; key: string; combined: string };
  /** nginx worker processes / HAProxy threads; 1 when absent. */
  workers?: number;
}

const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

function nginxMain(dir: string, workers = 1): string {
  return `daemon off;
worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 4096; }
`;
}

function nginxListen(o: ProxyConfig): string {
  switch (o.frontend) {
    case 'http': return `listen 127.0.0.1:${o.listenPort};`;
    // nginx 1.22: "http2" on a cleartext listen means prior knowledge only.
    case 'h2c': case 'grpc': return `listen 127.0.0.1:${o.listenPort} http2;`;
    case 'https':
      if (!o.tls) throw new Error('https needs tls files');
      return `listen 127.0.0.1:${o.listenPort} ssl http2;
    ssl_certificate ${o.tls.cert};
    ssl_certificate_key ${o.tls.key};
    ssl_protocols TLSv1.3;`;
  }
}

export function nginxConf(o: ProxyConfig): string {
  const location = o.frontend === 'grpc'
    ? 'grpc_pass grpc://backend;'
    : `proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;`;
  return `${nginxMain(o.dir, o.workers)}http {
  access_log off;
  client_body_temp_path ${o.dir}/body;
  proxy_temp_path ${o.dir}/proxy;
  fastcgi_temp_path ${o.dir}/fastcgi;
  uwsgi_temp_path ${o.dir}/uwsgi;
  scgi_temp_path ${o.dir}/scgi;
  keepalive_requests 1000000;
  http2_max_requests 1000000;
  upstream backend { server 127.0.0.1:${o.backendPort}; keepalive 256; }
  server {
    ${nginxListen(o)}
    location / {
      ${location}
    }
  }
}
`;
}

export interface L4Config {
  listenPort: number;
  backendPort: number;
  dir: string;
  /** TLS passthrough: route by the ClientHello's SNI (only this name reaches the backend). */
  sni?: string;
}

/** nginx `stream` TCP passthrough (ssl_preread for SNI); null when the stream module is not installed. */
export function nginxStreamConf(o: L4Config, haveModule: boolean): string | null {
  if (!haveModule) return null;
  const route = o.sni
    ? `map $ssl_preread_server_name $up { ${o.sni} 127.0.0.1:${o.backendPort}; default 127.0.0.1:1; }
  server {
    listen 127.0.0.1:${o.listenPort};
    ssl_preread on;
    proxy_pass $up;
  }`
    : `server {
    listen 127.0.0.1:${o.listenPort};
    proxy_pass 127.0.0.1:${o.backendPort};
  }`;
  return `load_module ${NGINX_STREAM_MODULE};
${nginxMain(o.dir)}stream {
  ${route}
}
`;
}

export { NGINX_STREAM_MODULE };

function haproxyBind(o: ProxyConfig): string {
  switch (o.frontend) {
    case 'http': return `bind 127.0.0.1:${o.listenPort}`;
    case 'h2c': case 'grpc': return `bind 127.0.0.1:${o.listenPort} proto h2`;
    case 'https':
      if (!o.tls) throw new Error('https needs tls files');
      return `bind 127.0.0.1:${o.listenPort} ssl crt ${o.tls.combined} alpn h2,http/1.1 ssl-min-ver TLSv1.3`;
  }
}

const haproxyGlobal = (threads = 1) => `global
  nbthread ${threads}
  maxconn 4096
defaults
  timeout connect 5s
  timeout client 60s
  timeout server 60s
`;

export function haproxyCfg(o: ProxyConfig): string {
  return `${haproxyGlobal(o.workers)}  mode http
  option http-keep-alive
  http-reuse always
frontend fe
  ${haproxyBind(o)}
  option forwardfor
  default_backend be
backend be
  server s1 127.0.0.1:${o.backendPort}${o.frontend === 'grpc' ? ' proto h2' : ''}
`;
}

export function haproxyTcpCfg(o: L4Config): string {
  const route = o.sni
    ? `tcp-request inspect-delay 5s
  tcp-request content accept if { req_ssl_hello_type 1 }
  use_backend be if { req_ssl_sni -i ${o.sni} }`
    : 'default_backend be';
  return `${haproxyGlobal()}  mode tcp
frontend fe
  bind 127.0.0.1:${o.listenPort}
  ${route}
backend be
  server s1 127.0.0.1:${o.backendPort}
`;
}
