"""Baseline: the schema as the hub created it before migrations existed.

A database made by those versions (``create_all`` at every start) has these tables but no
``alembic_version``; :func:`hub.store.schema.upgrade` stamps it at this revision and goes on
from here, so it upgrades in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=100), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('subject_hash', sa.String(length=64), nullable=True),
    sa.Column('subject_email', sa.String(length=320), nullable=True),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('entry_hash')
    )
    op.create_index(op.f('ix_audit_log_request_id'), 'audit_log', ['request_id'], unique=False)
    op.create_index(op.f('ix_audit_log_subject_hash'), 'audit_log', ['subject_hash'], unique=False)
    op.create_table('consent_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('system', sa.String(length=80), nullable=False),
    sa.Column('subscriber_id', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('email_key', sa.String(length=320), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('previous_status', sa.String(length=20), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('learned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('learned_via', sa.String(length=20), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_consent_events_email_key'), 'consent_events', ['email_key'], unique=False)
    op.create_index('ix_consent_events_subscriber', 'consent_events', ['system', 'subscriber_id'], unique=False)
    op.create_table('consent_subscribers',
    sa.Column('system', sa.String(length=80), nullable=False),
    sa.Column('subscriber_id', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('email_key', sa.String(length=320), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('source_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_opt_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seen_scan', sa.String(length=40), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_event_id', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('system', 'subscriber_id')
    )
    op.create_index(op.f('ix_consent_subscribers_email_key'), 'consent_subscribers', ['email_key'], unique=False)
    op.create_index('ix_consent_subscribers_seen', 'consent_subscribers', ['system', 'seen_scan'], unique=False)
    op.create_index('ix_consent_subscribers_status', 'consent_subscribers', ['system', 'status'], unique=False)
    op.create_table('consent_webhook_deliveries',
    sa.Column('body_sha256', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('observations', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('body_sha256')
    )
    op.create_table('requests',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('subject_email', sa.String(length=320), nullable=True),
    sa.Column('subject_hash', sa.String(length=128), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('due_at', sa.Date(), nullable=False),
    sa.Column('extended_due_at', sa.Date(), nullable=True),
    sa.Column('extension_reason', sa.Text(), nullable=True),
    sa.Column('extended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_by', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_requests_due_at'), 'requests', ['due_at'], unique=False)
    op.create_index(op.f('ix_requests_status'), 'requests', ['status'], unique=False)
    op.create_index(op.f('ix_requests_subject_hash'), 'requests', ['subject_hash'], unique=False)
    op.create_index(op.f('ix_requests_type'), 'requests', ['type'], unique=False)
    op.create_table('state',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('suppression',
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('email_hash')
    )
    op.create_table('consent_propagation',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('system', sa.String(length=80), nullable=False),
    sa.Column('subscriber_id', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('email_key', sa.String(length=320), nullable=False),
    sa.Column('destination', sa.String(length=80), nullable=False),
    sa.Column('destination_title', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('receipt', sa.Text(), nullable=True),
    sa.Column('instructions', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['consent_events.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_consent_propagation_email_key'), 'consent_propagation', ['email_key'], unique=False)
    op.create_index('ix_consent_propagation_open', 'consent_propagation', ['destination', 'state'], unique=False)
    op.create_index('ix_consent_propagation_subscriber', 'consent_propagation', ['system', 'subscriber_id'], unique=False)
    op.create_table('erasure_actions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('processor', sa.String(length=64), nullable=False),
    sa.Column('record_type', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=200), nullable=False),
    sa.Column('matched_on', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('retained_until', sa.Date(), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('instructions', sa.Text(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=400), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('completes_by', sa.Date(), nullable=True),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key'),
    sa.UniqueConstraint('request_id', 'processor', 'record_type', 'record_id')
    )
    op.create_index(op.f('ix_erasure_actions_request_id'), 'erasure_actions', ['request_id'], unique=False)
    op.create_index(op.f('ix_erasure_actions_retained_until'), 'erasure_actions', ['retained_until'], unique=False)
    op.create_index(op.f('ix_erasure_actions_state'), 'erasure_actions', ['state'], unique=False)
    op.create_table('request_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_request_events_request_id'), 'request_events', ['request_id'], unique=False)
    op.create_table('request_identifiers',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('request_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id', 'kind', 'value')
    )
    op.create_index(op.f('ix_request_identifiers_request_id'), 'request_identifiers', ['request_id'], unique=False)
