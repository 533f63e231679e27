/* SPDX-License-Identifier: MIT */
/*
 * QR codes for the GUI (the safety number screen): libqrencode makes the
 * matrix, drawn here as a small SVG of one path (black modules on white,
 * a quiet zone of four modules), so that the browser needs no QR code of
 * its own. Only ASCII text that the server chose is encoded.
 */
#include "private.h"

#include <qrencode.h>
#include <stdlib.h>
#include <string.h>

#define QUIET 4

char *web_qr_svg(const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	struct qm_buf b;
	char *out = NULL;
	int size, rc;

	if (!q)
		return NULL;
	size = q->width + 2 * QUIET;
	qm_buf_init(&b, 1 << 20);
	rc = qm_buf_appendf(
	    &b, NULL,
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %d %d\" shape-rendering=\"crispEdges\">"
	    "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
	    "<path fill=\"#000\" d=\"",
	    size, size, size, size);
	for (int y = 0; !rc && y < q->width; y++)
		for (int x = 0; !rc && x < q->width; x++)
			if (q->data[y * q->width + x] & 1)
				rc = qm_buf_appendf(&b, NULL, "M%d %dh1v1h-1z",
				                    x + QUIET, y + QUIET);
	if (!rc)
		rc = qm_buf_append_str(&b, "\"/></svg>", NULL);
	if (!rc)
		out = (char *)qm_buf_steal(&b, NULL);
	qm_buf_free(&b);
	QRcode_free(q);
	return out;
}
