/* SPDX-License-Identifier: MIT */
/*
 * A scripted mail server on 127.0.0.1 for the protocol fuzz targets (IMAP,
 * POP3, SMTP replies as the mail layer reads them). The fuzz input is the
 * server's side of the conversation: chunks separated by "~~\n". Chunk 0
 * is the greeting; after that the server answers each batch of client
 * bytes with the next chunk, "$T" replaced by the tag of the client's
 * command (IMAP). A chunk that holds no tagged completion, no "+"
 * continuation and no final SMTP/POP3 status is followed at once by the
 * next, so a client waiting for more never stalls the run. When the script
 * ends the server sends FIN and drains, so the client sees every byte and
 * then the end of the connection, deterministically.
 */
#ifndef QM_FUZZ_SCRIPTED_H
#define QM_FUZZ_SCRIPTED_H

#include <stddef.h>
#include <stdint.h>

enum scripted_proto { SCRIPTED_IMAP, SCRIPTED_POP3, SCRIPTED_SMTP };

/* Starts the server thread once; returns its port. */
int scripted_start(enum scripted_proto proto);
/* Sets the script for the next connection(s); data is copied. */
void scripted_set(const uint8_t *data, size_t size);
/* Waits until the server has finished with the current script. */
void scripted_wait(void);
/* Stops the thread (replay tear-down). */
void scripted_stop(void);

#endif
