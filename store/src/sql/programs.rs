//! Programs, their versions and the challenges enrolled on them. The SQL of
//! [`crate::Programs`], one text for both databases.

/// Implements [`crate::Programs`] for a store type with a `pool` field of a sqlx pool of
/// database `$db`.
macro_rules! portable_programs {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::Programs for $store {
            async fn create_program(
                &self,
                id: &str,
                template: Option<&str>,
                first: &$crate::ProgramVersion,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                let inserted = sqlx::query(
                    "INSERT INTO programs (id, template, created_by, created_at_ms)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(template)
                .bind(&first.created_by)
                .bind(first.created_at.timestamp_millis())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                Self::insert_program_version(&mut *tx, id, first).await?;
                tx.commit().await?;
                Ok(true)
            }
            async fn programs(&self) -> Result<Vec<$crate::StoredProgram>, $crate::StoreError> {
                let rows: Vec<$crate::programs::ProgramRow> = sqlx::query_as(&format!(
                    "{} ORDER BY p.id",
                    $crate::programs::PROGRAM_SELECT
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::programs::program_from_row)
                    .collect()
            }
            async fn program(
                &self,
                id: &str,
            ) -> Result<Option<$crate::StoredProgram>, $crate::StoreError> {
                let row: Option<$crate::programs::ProgramRow> = sqlx::query_as(&format!(
                    "{} WHERE p.id = $1",
                    $crate::programs::PROGRAM_SELECT
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::programs::program_from_row).transpose()
            }
            async fn program_versions(
                &self,
                id: &str,
            ) -> Result<Vec<$crate::ProgramVersion>, $crate::StoreError> {
                let rows: Vec<$crate::programs::VersionRow> = sqlx::query_as(&format!(
                    "{} WHERE program_id = $1 ORDER BY version DESC",
                    $crate::programs::VERSION_SELECT
                ))
                .bind(id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::programs::version_from_row)
                    .collect()
            }
            async fn program_version(
                &self,
                id: &str,
                version: u32,
            ) -> Result<Option<$crate::ProgramVersion>, $crate::StoreError> {
                let row: Option<$crate::programs::VersionRow> = sqlx::query_as(&format!(
                    "{} WHERE program_id = $1 AND version = $2",
                    $crate::programs::VERSION_SELECT
                ))
                .bind(id)
                .bind(i64::from(version))
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::programs::version_from_row).transpose()
            }
            async fn save_program_version(
                &self,
                id: &str,
                version: &$crate::ProgramVersion,
                moved: &[shared::domain::AccountId],
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                let mut tx = self.pool.begin_with(Self::BEGIN_WRITE).await?;
                let latest: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(version) FROM program_versions WHERE program_id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                if latest.map(|v| v + 1) != Some(i64::from(version.version)) {
                    tx.rollback().await?;
                    return Ok(false);
                }
                Self::insert_program_version(&mut *tx, id, version).await?;
                for account in moved {
                    sqlx::query(
                        "UPDATE program_enrollments SET version = $3
                         WHERE account_id = $1 AND program_id = $2",
                    )
                    .bind(account.as_str())
                    .bind(id)
                    .bind(i64::from(version.version))
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(true)
            }
            async fn enroll(
                &self,
                enrollment: &$crate::Enrollment,
            ) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(false).await;
                Self::upsert_enrollment(&self.pool, enrollment).await
            }
            async fn enrollment(
                &self,
                account: &shared::domain::AccountId,
            ) -> Result<Option<$crate::Enrollment>, $crate::StoreError> {
                let row: Option<$crate::programs::EnrollmentRow> = sqlx::query_as(&format!(
                    "{} WHERE account_id = $1",
                    $crate::programs::ENROLLMENT_SELECT
                ))
                .bind(account.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::programs::enrollment_from_row).transpose()
            }
            async fn enrollments(
                &self,
                program: Option<&str>,
            ) -> Result<Vec<$crate::Enrollment>, $crate::StoreError> {
                let rows: Vec<$crate::programs::EnrollmentRow> = match program {
                    Some(program) => {
                        sqlx::query_as(&format!(
                            "{} WHERE program_id = $1 ORDER BY phase, account_id",
                            $crate::programs::ENROLLMENT_SELECT
                        ))
                        .bind(program)
                        .fetch_all(&self.pool)
                        .await?
                    }
                    None => {
                        sqlx::query_as(&format!(
                            "{} ORDER BY program_id, phase, account_id",
                            $crate::programs::ENROLLMENT_SELECT
                        ))
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                rows.into_iter()
                    .map($crate::programs::enrollment_from_row)
                    .collect()
            }
            async fn record_promotion(
                &self,
                p: &$crate::Promotion,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(true).await;
                let inserted = sqlx::query(
                    "INSERT INTO promotions (account_id, phase, next_phase, program_id, version,
                         journey, passed_at_ms, same_account, approval, status, next_account,
                         decided_by, decided_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                     ON CONFLICT (account_id, phase) DO NOTHING",
                )
                .bind(p.account.as_str())
                .bind(i64::from(p.phase))
                .bind(i64::from(p.next_phase))
                .bind(&p.program)
                .bind(i64::from(p.version))
                .bind(&p.journey)
                .bind(p.passed_at.timestamp_millis())
                .bind(p.same_account)
                .bind(p.approval)
                .bind(p.status.as_str())
                .bind(p.next_account.as_ref().map(|a| a.as_str().to_owned()))
                .bind(p.decided_by.as_deref())
                .bind(p.decided_at.map(|t| t.timestamp_millis()))
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(inserted == 1)
            }
            async fn promotion(
                &self,
                account: &shared::domain::AccountId,
                phase: u32,
            ) -> Result<Option<$crate::Promotion>, $crate::StoreError> {
                let row: Option<$crate::programs::PromotionRow> = sqlx::query_as(&format!(
                    "{} WHERE account_id = $1 AND phase = $2",
                    $crate::programs::PROMOTION_SELECT
                ))
                .bind(account.as_str())
                .bind(i64::from(phase))
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::programs::promotion_from_row).transpose()
            }
            async fn promotions(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::Promotion>, $crate::StoreError> {
                let rows: Vec<$crate::programs::PromotionRow> = sqlx::query_as(&format!(
                    "{} ORDER BY CASE WHEN status IN ('done', 'rejected') THEN 1 ELSE 0 END,
                         passed_at_ms DESC, account_id LIMIT $1",
                    $crate::programs::PROMOTION_SELECT
                ))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::programs::promotion_from_row)
                    .collect()
            }
            async fn move_promotion(
                &self,
                p: &$crate::Promotion,
                from: $crate::PromotionStatus,
                to: $crate::PromotionStatus,
            ) -> Result<bool, $crate::StoreError> {
                let _turn = self.gate.enter(true).await;
                let moved = sqlx::query(
                    "UPDATE promotions SET status = $4, next_account = $5, decided_by = $6,
                         decided_at_ms = $7
                     WHERE account_id = $1 AND phase = $2 AND status = $3",
                )
                .bind(p.account.as_str())
                .bind(i64::from(p.phase))
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(p.next_account.as_ref().map(|a| a.as_str().to_owned()))
                .bind(p.decided_by.as_deref())
                .bind(p.decided_at.map(|t| t.timestamp_millis()))
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(moved == 1)
            }
            async fn record_phase(
                &self,
                r: &$crate::PhaseRecord,
            ) -> Result<(), $crate::StoreError> {
                let _turn = self.gate.enter(true).await;
                sqlx::query(
                    "INSERT INTO phase_records (account_id, phase, journey, program_id, version,
                         status, started_at_ms, ended_at_ms, state_json)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (account_id, phase) DO NOTHING",
                )
                .bind(r.account.as_str())
                .bind(i64::from(r.phase))
                .bind(&r.journey)
                .bind(&r.program)
                .bind(i64::from(r.version))
                .bind(&r.status)
                .bind(r.started_at.map(|t| t.timestamp_millis()))
                .bind(r.ended_at.timestamp_millis())
                .bind(&r.state_json)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
            async fn phase_records(
                &self,
                journey: &str,
            ) -> Result<Vec<$crate::PhaseRecord>, $crate::StoreError> {
                let rows: Vec<$crate::programs::PhaseRow> = sqlx::query_as(&format!(
                    "{} WHERE journey = $1 ORDER BY ended_at_ms, phase",
                    $crate::programs::PHASE_SELECT
                ))
                .bind(journey)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map($crate::programs::phase_from_row).collect()
            }
        }

        impl $store {
            async fn insert_program_version<'e, E>(
                executor: E,
                id: &str,
                version: &$crate::ProgramVersion,
            ) -> Result<(), $crate::StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query(
                    "INSERT INTO program_versions (program_id, version, definition, apply_json,
                         applied_to, created_by, created_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(i64::from(version.version))
                .bind(&version.definition_json)
                .bind(&version.apply_json)
                .bind(i64::from(version.applied_to))
                .bind(&version.created_by)
                .bind(version.created_at.timestamp_millis())
                .execute(executor)
                .await?;
                Ok(())
            }

            async fn upsert_enrollment<'e, E>(
                executor: E,
                enrollment: &$crate::Enrollment,
            ) -> Result<(), $crate::StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query(
                    "INSERT INTO program_enrollments (account_id, program_id, version, phase,
                         journey, enrolled_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (account_id) DO UPDATE SET program_id = excluded.program_id,
                         version = excluded.version, phase = excluded.phase,
                         journey = excluded.journey, enrolled_at_ms = excluded.enrolled_at_ms",
                )
                .bind(enrollment.account.as_str())
                .bind(&enrollment.program)
                .bind(i64::from(enrollment.version))
                .bind(i64::from(enrollment.phase))
                .bind(&enrollment.journey)
                .bind(enrollment.enrolled_at.timestamp_millis())
                .execute(executor)
                .await?;
                Ok(())
            }
        }
    };
}

pub(crate) use portable_programs;
