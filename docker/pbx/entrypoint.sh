#!/bin/sh
# Start-up of ccd's PBX container: Asterisk's settings that come from the environment.
#   CCD_AMI__SECRET     required: the secret of the [ccd] AMI user (the same variable ccd
#                       reads, so one env file serves both containers)
#   CCD_TARGET_CONTEXT  where calls ccd places continue (default from-internal)
#   CCD_AGI_HOST, CCD_AGI_PORT   ccd's FastAGI server (default 127.0.0.1:4573: ccd shares
#                       this container's network)
set -eu

die() { echo "ccd-pbx: $*" >&2; exit 2; }

# A value goes into an Asterisk config line: nothing that ends it or starts a comment.
plain() {
    case $2 in
        "" | *[!A-Za-z0-9._~+/=@:-]*) die "$1 must be non-empty, letters, digits and ._~+/=@:- only" ;;
    esac
}

[ -n "${CCD_AMI__SECRET:-}" ] ||
    die "set CCD_AMI__SECRET (the secret of the [ccd] AMI user; ccd logs in with the same)"
CCD_TARGET_CONTEXT=${CCD_TARGET_CONTEXT:-from-internal}
CCD_AGI_HOST=${CCD_AGI_HOST:-127.0.0.1}
CCD_AGI_PORT=${CCD_AGI_PORT:-4573}
plain CCD_AMI__SECRET "$CCD_AMI__SECRET"
plain CCD_TARGET_CONTEXT "$CCD_TARGET_CONTEXT"
plain CCD_AGI_HOST "$CCD_AGI_HOST"
plain CCD_AGI_PORT "$CCD_AGI_PORT"
[ ${#CCD_AMI__SECRET} -ge 16 ] || die "CCD_AMI__SECRET must be at least 16 characters"

# deploy/manager.conf as shipped (loopback, least privilege), with the secret filled in.
awk '/^secret = / { print "secret = " ENVIRON["CCD_AMI__SECRET"]; next } { print }' \
    /usr/share/ccd-pbx/manager.conf >/etc/asterisk/manager.conf
chmod 0600 /etc/asterisk/manager.conf
cat >/etc/asterisk/extensions_globals.conf <<GLOBALS
[globals]
CCD_TARGET_CONTEXT = $CCD_TARGET_CONTEXT
CCD_AGI_HOST = $CCD_AGI_HOST
CCD_AGI_PORT = $CCD_AGI_PORT
GLOBALS
exec "$@"
