/* 8250/16550A UART at 0x3f8 (COM1, IRQ 4): enough for Linux's serial
 * console and for test guests. Transmit is immediate (THR is always empty),
 * so the transmit-empty interrupt is raised after every byte when enabled;
 * receive takes bytes queued by joey_vm_console_write. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm.h"

#define SERIAL_BASE 0x3f8
#define SERIAL_IRQ 4
#define RX_FIFO 256

#define UART_RX 0  /* in, DLAB=0 */
#define UART_TX 0  /* out, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* in */
#define UART_FCR 2 /* out */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MCR_OUT2 0x08
#define MSR_DCD 0x80
#define MSR_DSR 0x20
#define MSR_CTS 0x10

struct serial {
	struct vm *vm;
	pthread_mutex_t lock;
	uint8_t ier, lcr, mcr, scr, dll, dlm, fcr;
	bool thri_pending;
	uint8_t rx[RX_FIFO];
	unsigned int rx_head, rx_count;
	bool irq_level;
};

/* Called with s->lock held: drives IRQ 4 from the pending causes. */
static void serial__update_irq(struct serial *s)
{
	bool level = ((s->ier & IER_RDI) && s->rx_count) ||
		     ((s->ier & IER_THRI) && s->thri_pending);

	if (level != s->irq_level) {
		s->irq_level = level;
		irq__line(s->vm, SERIAL_IRQ, level);
	}
}

static uint8_t serial__iir(struct serial *s)
{
	uint8_t fifo = (s->fcr & 1) ? IIR_FIFO : 0;

	if ((s->ier & IER_RDI) && s->rx_count)
		return fifo | IIR_RDI;
	if ((s->ier & IER_THRI) && s->thri_pending) {
		/* Reading IIR acknowledges a transmit-empty interrupt. */
		s->thri_pending = false;
		return fifo | IIR_THRI;
	}
	return fifo | IIR_NO_INT;
}

static uint8_t serial__read(struct serial *s, uint64_t reg)
{
	uint8_t v = 0;

	switch (reg) {
	case UART_RX:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % RX_FIFO;
			s->rx_count--;
		}
		return v;
	case UART_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case UART_IIR:
		return serial__iir(s);
	case UART_LCR:
		return s->lcr;
	case UART_MCR:
		return s->mcr;
	case UART_LSR:
		return LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
	case UART_MSR:
		/* In loopback the modem lines echo MCR (Linux probes this). */
		if (s->mcr & MCR_LOOP)
			return (uint8_t)(((s->mcr & 0x0c) << 4) | ((s->mcr & 0x03) << 4));
		return MSR_DCD | MSR_DSR | MSR_CTS;
	case UART_SCR:
		return s->scr;
	default:
		return 0;
	}
}

static void serial__write(struct serial *s, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case UART_TX:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			return;
		}
		if (s->mcr & MCR_LOOP) {
			if (s->rx_count < RX_FIFO) {
				s->rx[(s->rx_head + s->rx_count) % RX_FIFO] = v;
				s->rx_count++;
			}
		} else {
			console__put(s->vm, &v, 1);
		}
		s->thri_pending = true;
		return;
	case UART_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			return;
		}
		/* Enabling THRI with an empty THR raises it at once (8250 behaviour
		 * Linux's serial driver relies on to start transmitting). */
		if (!(s->ier & IER_THRI) && (v & IER_THRI))
			s->thri_pending = true;
		s->ier = v & 0x0f;
		return;
	case UART_FCR:
		s->fcr = v;
		if (v & 0x02)
			s->rx_count = 0;
		return;
	case UART_LCR:
		s->lcr = v;
		return;
	case UART_MCR:
		s->mcr = v & 0x1f;
		return;
	case UART_SCR:
		s->scr = v;
		return;
	default:
		return;
	}
}

static void serial__io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (is_write) {
		serial__write(s, offset, data[0]);
	} else {
		data[0] = serial__read(s, offset);
		if (len > 1)
			memset(data + 1, 0, len - 1);
	}
	serial__update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

int serial__input(struct vm *vm, const uint8_t *buf, uint32_t len)
{
	struct serial *s = vm->serial;
	uint32_t n = 0;

	if (!s)
		return -ENODEV;
	pthread_mutex_lock(&s->lock);
	while (n < len && s->rx_count < RX_FIFO) {
		s->rx[(s->rx_head + s->rx_count) % RX_FIFO] = buf[n++];
		s->rx_count++;
	}
	serial__update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return (int)n;
}

int serial__init(struct vm *vm)
{
	struct serial *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->vm = vm;
	s->mcr = MCR_OUT2;
	pthread_mutex_init(&s->lock, NULL);
	rc = vm__register_pio(vm, SERIAL_BASE, 8, serial__io, s);
	if (rc) {
		pthread_mutex_destroy(&s->lock);
		free(s);
		vm__set_error(vm, "registering the UART at %#x failed", SERIAL_BASE);
		return rc;
	}
	vm->serial = s;
	return 0;
}

void serial__exit(struct vm *vm)
{
	if (!vm->serial)
		return;
	pthread_mutex_destroy(&vm->serial->lock);
	free(vm->serial);
	vm->serial = NULL;
}

int joey_vm_console_write(joey_vm *vm, const uint8_t *buf, uint32_t len)
{
	if (!vm || (!buf && len))
		return -EINVAL;
	return serial__input(vm, buf, len);
}
