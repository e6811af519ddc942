# Postern in a container: the whole system (@postern/mta) installed from the
# packages built in this checkout, running `postern start-fg` in the
# foreground: master logs to stdout, SIGTERM stops it cleanly (exit 0).
#
#   docker build -t postern .
#   docker run --name postern -v postern:/var/lib/postern postern
#   docker exec postern postern queue -p
#
# The first start writes the embedded default instance into
# $POSTERN_HOME/etc (SMTP on 127.0.0.1:2500 inside the container). To take
# mail from outside, put your own main.cf and master.cf there (a volume),
# with e.g. "inet_interfaces = all" and a "2500 inet n - n - - smtpd" service.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY . .
RUN npm ci --no-audit --no-fund \
 && npm run build \
 && mkdir /pkgs \
 && npm pack --pack-destination /pkgs ./packages/* ./apps/mta

FROM node:20-bookworm-slim
WORKDIR /opt/postern
COPY --from=build /pkgs /tmp/pkgs
RUN echo '{"name":"postern-image","private":true}' > package.json \
 && npm install --omit=dev --no-audit --no-fund /tmp/pkgs/*.tgz \
 && rm -rf /tmp/pkgs
ENV PATH=/opt/postern/node_modules/.bin:$PATH
ENV POSTERN_HOME=/var/lib/postern
VOLUME /var/lib/postern
EXPOSE 2500
STOPSIGNAL SIGTERM
CMD ["postern", "start-fg"]
