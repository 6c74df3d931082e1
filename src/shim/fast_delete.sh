# joey launcher fast path, sourced by the launchers that run main.ts on Deno
# (scripts/install.sh, tests/containerd/harness.ts) with the shim's argv.
#
# containerd runs `containerd-shim-joey-v2 ... delete` after every shim
# disconnect and waits for it. When the shim daemon deleted the container
# itself, it left a mark in the bundle (src/shim/deleted_mark.ts) and there
# is nothing to clean up: answer here, without starting Deno, with the
# DeleteResponse that src/shim/delete.ts gives on that path: exit_status 137,
# exited_at now (whole seconds; encoding as in src/shim/delete_response.ts).
# Anything else (no mark, no `date`, not a shim delete) goes on to Deno.
joey_fd_bundle=$PWD
joey_fd_id=
joey_fd_prev=
for joey_fd_arg in "$@"; do
  case $joey_fd_prev in
  -bundle | --bundle) joey_fd_bundle=$joey_fd_arg ;;
  -id | --id) joey_fd_id=$joey_fd_arg ;;
  esac
  case $joey_fd_arg in
  -bundle=* | --bundle=*) joey_fd_bundle=${joey_fd_arg#*=} ;;
  -id=* | --id=*) joey_fd_id=${joey_fd_arg#*=} ;;
  esac
  joey_fd_prev=$joey_fd_arg
done
if [ "$joey_fd_prev" = delete ] && [ -n "$joey_fd_id" ] &&
  [ -e "$joey_fd_bundle/.joey-shim-deleted" ] && joey_fd_s=$(date +%s); then
  # Appends one byte (0-255) to the printf format as a three-digit octal escape.
  joey_fd_byte() {
    joey_fd_fmt="$joey_fd_fmt\\$(($1 >> 6))$((($1 >> 3) & 7))$(($1 & 7))"
  }
  # google.protobuf.Timestamp { seconds (1, varint) }, built first for its length.
  joey_fd_fmt=
  joey_fd_byte 8
  joey_fd_n=1
  while [ "$joey_fd_s" -ge 128 ]; do
    joey_fd_byte $((($joey_fd_s & 127) | 128))
    joey_fd_s=$(($joey_fd_s >> 7))
    joey_fd_n=$(($joey_fd_n + 1))
  done
  joey_fd_byte "$joey_fd_s"
  joey_fd_n=$(($joey_fd_n + 1))
  joey_fd_ts=$joey_fd_fmt
  # DeleteResponse { exit_status (2) = 137, exited_at (3) = the Timestamp }.
  joey_fd_fmt='\020\211\001\032'
  joey_fd_byte "$joey_fd_n"
  printf "$joey_fd_fmt$joey_fd_ts"
  exit 0
fi
unset joey_fd_bundle joey_fd_id joey_fd_prev joey_fd_arg joey_fd_s
