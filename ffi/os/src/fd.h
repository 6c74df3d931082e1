/* SPDX-License-Identifier: Apache-2.0 */
/* Private to ffi/os: the cancellable wait every blocking call shares. */
#ifndef JOEY_OS_FD_H
#define JOEY_OS_FD_H

/* Waits for events on fd, or -ECANCELED once cancel_fd (if >= 0) is signalled. */
int os_fd__wait(int fd, short events, int cancel_fd);

#endif
