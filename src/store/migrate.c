/* SPDX-License-Identifier: MIT */
/*
 * Numbered schema migrations. PRAGMA user_version holds the version of the
 * file; at open every newer migration runs in its own IMMEDIATE transaction
 * together with the version bump, so a crash leaves the file at one version
 * or the next, never in between. Migrations are append-only: never edit one
 * that shipped, add the next.
 *
 * Tables whose rows own sealed vault items use AUTOINCREMENT: an id is never
 * reused, so a sealed blob of a deleted row (bound to its id) can never be
 * passed off as a later row's.
 */
#include <stdio.h>
#include <string.h>

#include "private.h"

static const char *const migrations[] = {
    /* 1: accounts, vault, message index, outbox, replay log, keyring. */
    "CREATE TABLE vault ("
    " id INTEGER PRIMARY KEY CHECK (id = 1),"
    " alg TEXT NOT NULL,"
    " opslimit INTEGER NOT NULL, memlimit INTEGER NOT NULL,"
    " salt BLOB NOT NULL, wrapped BLOB NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE account ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, address TEXT NOT NULL UNIQUE,"
    " display_name TEXT NOT NULL DEFAULT '', username TEXT NOT NULL DEFAULT '',"
    " smtp_host TEXT, smtp_port INTEGER, smtp_tls INTEGER,"
    " imap_host TEXT, imap_port INTEGER, imap_tls INTEGER,"
    " pop3_host TEXT, pop3_port INTEGER, pop3_tls INTEGER,"
    " auth INTEGER NOT NULL DEFAULT 0, oauth_token_url TEXT,"
    " oauth_client_id TEXT, oauth_expires INTEGER NOT NULL DEFAULT 0,"
    " sae_id TEXT, kme_url TEXT, kme_ca TEXT, kme_cert TEXT, kme_key TEXT,"
    " default_level INTEGER NOT NULL DEFAULT 2);"
    "CREATE TABLE account_secret ("
    " account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    " kind INTEGER NOT NULL, sealed BLOB NOT NULL,"
    " PRIMARY KEY (account_id, kind));"
    "CREATE TABLE contact ("
    " account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    " address TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', sae_id TEXT,"
    " source INTEGER NOT NULL, confirmed INTEGER NOT NULL,"
    " min_level INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL,"
    " PRIMARY KEY (account_id, address));"
    "CREATE TABLE msg ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    " folder TEXT NOT NULL, uidvalidity INTEGER NOT NULL DEFAULT 0,"
    " uid INTEGER NOT NULL DEFAULT 0, uidl TEXT, message_id TEXT,"
    " from_addr TEXT, to_addrs TEXT, date INTEGER NOT NULL,"
    " level INTEGER NOT NULL, verify INTEGER NOT NULL,"
    " flags INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL DEFAULT 0,"
    " n_attach INTEGER NOT NULL DEFAULT 0, subject BLOB);"
    "CREATE INDEX msg_list ON msg(account_id, folder, date, id);"
    "CREATE UNIQUE INDEX msg_imap ON msg(account_id, folder, uidvalidity, uid)"
    " WHERE uid <> 0;"
    "CREATE UNIQUE INDEX msg_pop3 ON msg(account_id, uidl)"
    " WHERE uidl IS NOT NULL;"
    "CREATE INDEX msg_mid ON msg(account_id, message_id);"
    "CREATE INDEX msg_from ON msg(account_id, from_addr, date, id);"
    "CREATE INDEX msg_level ON msg(account_id, level, date, id);"
    "CREATE INDEX msg_date ON msg(account_id, date, id);"
    "CREATE INDEX msg_time ON msg(date, id);"
    "CREATE TABLE msg_body ("
    " msg_id INTEGER PRIMARY KEY REFERENCES msg(id) ON DELETE CASCADE,"
    " mime BLOB NOT NULL, text BLOB);"
    "CREATE TABLE keylog ("
    " account_id INTEGER NOT NULL, dir INTEGER NOT NULL, key_id TEXT NOT NULL,"
    " message_id TEXT, msg_id INTEGER, outbox_id INTEGER,"
    " seq INTEGER NOT NULL DEFAULT 0, burnt INTEGER NOT NULL DEFAULT 0,"
    " at INTEGER NOT NULL,"
    " PRIMARY KEY (account_id, dir, key_id)) WITHOUT ROWID;"
    "CREATE INDEX keylog_msg ON keylog(msg_id) WHERE msg_id IS NOT NULL;"
    "CREATE INDEX keylog_outbox ON keylog(outbox_id)"
    " WHERE outbox_id IS NOT NULL;"
    "CREATE TABLE outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    " message_id TEXT NOT NULL, recipients TEXT NOT NULL,"
    " level INTEGER NOT NULL, state INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL, retry_at INTEGER NOT NULL DEFAULT 0,"
    " reply TEXT, reason TEXT, plaintext BLOB, ciphertext BLOB,"
    " CHECK (state NOT IN (2, 3, 4, 6) OR ciphertext IS NOT NULL));"
    "CREATE INDEX outbox_state ON outbox(state, retry_at);"
    "CREATE TABLE keyring ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INTEGER, address TEXT "
    "NOT NULL,"
    " alg TEXT NOT NULL, pub BLOB NOT NULL, fingerprint TEXT NOT NULL,"
    " priv BLOB, trust INTEGER NOT NULL, first_seen INTEGER NOT NULL,"
    " UNIQUE (account_id, address, alg, fingerprint));"
    "CREATE INDEX keyring_addr ON keyring(address, alg, trust);",

    /* 2: settings and drafts. */
    "CREATE TABLE setting ("
    " account_id INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (account_id, key));"
    "CREATE TABLE draft ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    " updated INTEGER NOT NULL, sealed BLOB);"
    "CREATE INDEX draft_account ON draft(account_id, updated);",

    /* 3: the client's security record of each message (sender binding,
     * authenticated headers, signer, waiting state), sealed. */
    "CREATE TABLE msg_meta ("
    " msg_id INTEGER PRIMARY KEY REFERENCES msg(id) ON DELETE CASCADE,"
    " sealed BLOB NOT NULL);",

    /* 4: a MAC over each row's security labels (label.c). Rows of older
     * versions get theirs at the first unlock after the upgrade. */
    "ALTER TABLE msg ADD COLUMN mac BLOB;"
    "ALTER TABLE contact ADD COLUMN mac BLOB;"
    "ALTER TABLE keyring ADD COLUMN mac BLOB;"
    /* whether msg_meta holds the message's sealed record: a label */
    "ALTER TABLE msg ADD COLUMN has_meta INTEGER NOT NULL DEFAULT 0;",

    /* 5: the values an outbox entry's envelope will bind (its headers and
     * level), sealed when the message is built, so that encrypting it
     * does not parse the MIME again. Rows of older versions have none and
     * are parsed as before. */
    "ALTER TABLE outbox ADD COLUMN bound BLOB;",

    /* 6: folders of each account and where their last sync stopped, and
     * the places of a message on the server (folder, UID) with the
     * server's flags as of the last sync: a message is filed once and
     * may be in several folders (folder.c). Messages filed from IMAP
     * before get their place from the row; the folder's state from
     * the highest UID filed (mod-sequence 0: the first sync asks for
     * every flag). */
    "CREATE TABLE folder ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL, display TEXT NOT NULL DEFAULT '',"
    " delim TEXT NOT NULL DEFAULT '', special_use INTEGER NOT NULL DEFAULT 0,"
    " subscribed INTEGER NOT NULL DEFAULT 0,"
    " selectable INTEGER NOT NULL DEFAULT 1,"
    " uidvalidity INTEGER NOT NULL DEFAULT 0,"
    " highestmodseq INTEGER NOT NULL DEFAULT 0,"
    " lastuid INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (account_id, name));"
    "CREATE TABLE msg_place ("
    " folder_id INTEGER NOT NULL REFERENCES folder(id) ON DELETE CASCADE,"
    " uid INTEGER NOT NULL,"
    " msg_id INTEGER NOT NULL REFERENCES msg(id) ON DELETE CASCADE,"
    " flags INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (folder_id, uid)) WITHOUT ROWID;"
    "CREATE INDEX msg_place_msg ON msg_place(msg_id, folder_id);"
    "INSERT INTO folder (account_id, name, display, special_use, subscribed,"
    " uidvalidity, lastuid)"
    " SELECT account_id, folder, folder, folder = 'INBOX', 1,"
    " max(uidvalidity), max(uid) FROM msg"
    " WHERE uid <> 0 AND uidl IS NULL GROUP BY account_id, folder;"
    "INSERT OR IGNORE INTO msg_place (folder_id, uid, msg_id, flags)"
    " SELECT f.id, m.uid, m.id, m.flags FROM msg m JOIN folder f"
    " ON f.account_id = m.account_id AND f.name = m.folder"
    " AND f.uidvalidity = m.uidvalidity"
    " WHERE m.uid <> 0 AND m.uidl IS NULL;",

    /* 7: header-only records of plain mail (a large folder's first sync
     * lists it from its headers and fetches the bodies afterwards, or
     * when the message is opened): body_pending = 1 while the vault
     * holds no body yet (2: the server gave another message for it;
     * fetched only when opened). Rows of older versions all have
     * theirs. */
    "ALTER TABLE msg ADD COLUMN body_pending INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX msg_pending ON msg(account_id, id)"
    " WHERE body_pending <> 0;",

    /* 8: the identities of each account besides its own address (a From
     * address and display name, with an optional plain-text signature),
     * and which one is the default (identity.c). The account's own
     * address needs no row: a row for it carries its signature. */
    "CREATE TABLE identity ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    " address TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL DEFAULT '',"
    " signature TEXT NOT NULL DEFAULT '',"
    " is_default INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (account_id, address));",

    /* 9: a snippet of each message's text for the list, sealed like the
     * subject (msg.c, snippet.c): NULL while not made yet (rows of older
     * versions: made from the sealed text a few at a time, newest first,
     * through the partial index), an empty blob for none, else sealed. */
    "ALTER TABLE msg ADD COLUMN snippet BLOB;"
    "CREATE INDEX msg_nosnippet ON msg(id)"
    " WHERE snippet IS NULL;",

    /* 10: what refreshing an OAuth2 sign-in needs besides the token URL
     * and the client ID of version 1: the revocation endpoint, the scope
     * asked for, and the CA file that verifies the provider's HTTPS
     * (empty: the system's), and when the access token was issued (its
     * lifetime decides when it is renewed). The tokens and a client
     * secret are sealed account secrets (kinds 2, 3 and 4). */
    "ALTER TABLE account ADD COLUMN oauth_issued INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE account ADD COLUMN oauth_revoke_url TEXT;"
    "ALTER TABLE account ADD COLUMN oauth_scope TEXT;"
    "ALTER TABLE account ADD COLUMN oauth_ca TEXT;"
    "ALTER TABLE account ADD COLUMN oauth_auth_url TEXT;"
    "ALTER TABLE account ADD COLUMN oauth_device_url TEXT;"
    "ALTER TABLE account ADD COLUMN oauth_auth_params TEXT;",

    /* 11: sealed blobs (blob.c), written and read a chunk at a time: a
     * large message need not be held in memory whole. A chunk row is
     * removed with its blob. */
    "CREATE TABLE blob (id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
    " owner INTEGER NOT NULL, wkey BLOB NOT NULL,"
    " size INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,"
    " made INTEGER NOT NULL);"
    "CREATE INDEX blob_unfinished ON blob(made) WHERE done = 0;"
    "CREATE TABLE blob_chunk (id INTEGER PRIMARY KEY,"
    " blob_id INTEGER NOT NULL REFERENCES blob(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, data BLOB NOT NULL,"
    " UNIQUE (blob_id, seq));",

    /* 12: an outbox entry's payloads in sealed blobs (blob.c, kinds
     * "outbox" for the plaintext and "outbox.ct" for what is sent, owned
     * by the entry): a state transition then rewrites a small row, not
     * the message twice. The table is rebuilt because the CHECK names the
     * ciphertext; rows of older versions keep their columns and are read
     * as before. The AUTOINCREMENT counter is carried over, so no id is
     * ever used twice. A trigger removes an entry's blobs with it (a
     * discarded entry, an account removed). */
    "CREATE TABLE outbox_new ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    " message_id TEXT NOT NULL, recipients TEXT NOT NULL,"
    " level INTEGER NOT NULL, state INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL, retry_at INTEGER NOT NULL DEFAULT 0,"
    " reply TEXT, reason TEXT, plaintext BLOB, ciphertext BLOB, bound BLOB,"
    " pt_blob INTEGER, ct_blob INTEGER,"
    " CHECK (state NOT IN (2, 3, 4, 6) OR ciphertext IS NOT NULL"
    " OR ct_blob IS NOT NULL));"
    "INSERT INTO outbox_new (id, account_id, message_id, recipients, level,"
    " state, attempts, created, updated, retry_at, reply, reason, plaintext,"
    " ciphertext, bound) SELECT id, account_id, message_id, recipients,"
    " level, state, attempts, created, updated, retry_at, reply, reason,"
    " plaintext, ciphertext, bound FROM outbox;"
    "DELETE FROM sqlite_sequence WHERE name = 'outbox_new';"
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'outbox_new', seq"
    " FROM sqlite_sequence WHERE name = 'outbox';"
    "DROP TABLE outbox;"
    "ALTER TABLE outbox_new RENAME TO outbox;"
    "CREATE INDEX outbox_state ON outbox(state, retry_at);"
    "CREATE TRIGGER outbox_blobs AFTER DELETE ON outbox BEGIN"
    " DELETE FROM blob WHERE id IN (OLD.pt_blob, OLD.ct_blob); END;",

    /* 13: a large message's plaintext in a sealed blob (kind "msg", its
     * account the owner) rather than one sealed value: mime_blob is the
     * blob, and mime then holds a sealed record of the blob's ID bound to
     * the message (so a blob cannot be moved to another message). Rows
     * of older homes keep their sealed mime and read as before. The blob
     * goes with its message. */
    "ALTER TABLE msg_body ADD COLUMN mime_blob INTEGER;"
    "CREATE TRIGGER msg_blob_gone BEFORE DELETE ON msg BEGIN"
    " DELETE FROM blob WHERE id IN (SELECT mime_blob FROM msg_body"
    " WHERE msg_id = old.id AND mime_blob IS NOT NULL); END;",

    /* 14: chat (docs/CHAT.md): conversations of each account, keyed by
     * their participants or group ID, with their level (bound by the
     * label MAC with the members); their messages, text sealed (kind
     * "chat"), each Message-ID once per conversation; and how far each
     * account's messages were looked at for chat. */
    "CREATE TABLE chat ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
    " key TEXT NOT NULL, group_id TEXT NOT NULL DEFAULT '',"
    " members TEXT NOT NULL, level INTEGER NOT NULL, mac BLOB,"
    " UNIQUE (account_id, key));"
    "CREATE TABLE chat_msg ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " chat_id INTEGER NOT NULL REFERENCES chat(id) ON DELETE CASCADE,"
    " message_id TEXT NOT NULL, sender TEXT NOT NULL,"
    " at INTEGER NOT NULL, level INTEGER NOT NULL,"
    " msg_id INTEGER REFERENCES msg(id) ON DELETE SET NULL,"
    " outbox_id INTEGER, seen INTEGER NOT NULL DEFAULT 0,"
    " moved INTEGER NOT NULL DEFAULT 0, text BLOB,"
    " UNIQUE (chat_id, sender, message_id));"
    "CREATE INDEX chat_msg_order ON chat_msg(chat_id, at, id);"
    "CREATE INDEX chat_msg_mid ON chat_msg(message_id);"
    "CREATE INDEX chat_msg_unmoved ON chat_msg(msg_id) WHERE moved = 0;"
    "CREATE TABLE chat_scan ("
    " account_id INTEGER PRIMARY KEY REFERENCES account(id)"
    " ON DELETE CASCADE, last_msg_id INTEGER NOT NULL);"
    /* messages filed before chat existed are no chat messages: not read
     * again to find out */
    "INSERT INTO chat_scan (account_id, last_msg_id)"
    " SELECT account_id, max(id) FROM msg GROUP BY account_id;",

    /* 15: group membership (docs/CHAT.md "Groups"): a group the account
     * was removed from (bound by the label MAC when set), and what a line
     * of a conversation is (a message, a member added or removed, a read
     * receipt; the text of anything but a message is sealed as kind
     * "chatsys"). */
    "ALTER TABLE chat ADD COLUMN removed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE chat_msg ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;",

    /* 16: chat media and read state (docs/CHAT.md "Attachments", "Read
     * receipts"): per conversation the user's opt-in to send read
     * receipts; per message the time a member's receipt said it was read
     * (sent messages), and its attachments' list (type, size, name),
     * sealed (kind "chatatt"). */
    "ALTER TABLE chat ADD COLUMN receipts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE chat_msg ADD COLUMN read_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE chat_msg ADD COLUMN att BLOB;",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int qm_store_schema_latest(void)
{
	return NMIGRATIONS;
}

enum qm_err store_migrate(struct qm_store *s, int max, struct qm_error *err)
{
	enum qm_err rc;
	int v, target = max > 0 && max < NMIGRATIONS ? max : NMIGRATIONS;
	char bump[64];

	v = qm_store_schema_version(s);
	if (v < 0)
		return store_db_fail(s, sqlite3_errcode(s->db), err,
		                     "reading the schema version");
	if (v > NMIGRATIONS)
		return qm_error_set(
		    err, QM_ERR_UNSUPPORTED,
		    "the database %s has schema version %d, newer "
		    "than this QMail knows (%d): update QMail",
		    s->path, v, NMIGRATIONS);
	while (v < target) {
		rc = store_db_begin(s, err);
		if (rc != QM_OK)
			return rc;
		/* Another process may have migrated while we waited. */
		v = qm_store_schema_version(s);
		if (v >= target) {
			store_db_rollback(s);
			break;
		}
		snprintf(bump, sizeof(bump), "PRAGMA user_version=%d", v + 1);
		rc = store_db_exec(s, migrations[v], err);
		if (rc == QM_OK)
			rc = store_db_exec(s, bump, err);
		if (rc != QM_OK) {
			store_db_rollback(s);
			return qm_error_prefix(err,
			                       "upgrading the schema to "
			                       "version %d: ",
			                       v + 1);
		}
		rc = store_db_commit(s, err);
		if (rc != QM_OK)
			return rc;
		v++;
	}
	s->schema = qm_store_schema_version(s);
	return QM_OK;
}
