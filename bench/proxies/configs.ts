// Equivalent reverse-proxy configurations for nginx and HAProxy: one worker / one thread,
// upstream keep-alive, no access log, so that they do the same job as Portico.

export function nginxConf(o: { listenPort: number; backendPort: number; dir: string; tls?: { cert: string; key: string } }): string {
  const listen = o.tls ? `listen 127.0.0.1:${o.listenPort} ssl http2;\n    ssl_certificate ${o.tls.cert};\n    ssl_certificate_key ${o.tls.key};\n    ssl_protocols TLSv1.3;` : `listen 127.0.0.1:${o.listenPort};`;
  return `daemon off;
worker_processes 1;
pid ${o.dir}/nginx.pid;
error_log ${o.dir}/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${o.dir}/body;
  proxy_temp_path ${o.dir}/proxy;
  fastcgi_temp_path ${o.dir}/fastcgi;
  uwsgi_temp_path ${o.dir}/uwsgi;
  scgi_temp_path ${o.dir}/scgi;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:${o.backendPort}; keepalive 256; }
  server {
    ${listen}
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }
}
`;
}

export function haproxyCfg(o: { listenPort: number; backendPort: number }): string {
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:${o.listenPort}
  option forwardfor
  default_backend be
backend be
  server s1 127.0.0.1:${o.backendPort}
`;
}
