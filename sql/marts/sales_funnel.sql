-- model: marts.sales_funnel
-- grain: one row per lead-created month per lead channel per owner rep (leads created before $as_of)
-- inputs: core.fct_lead, core.fct_opportunity
-- write: replace
-- params: as_of
-- A lead's cohort is the month it was created. An opportunity has reached a stage when its furthest stage is at
-- or past it (a skipped stage counts as passed); won/lost/open are its state now. Stage-to-stage conversion =
-- reached the next stage / reached this one. Median days between stages use the first entries into both
-- stages (opportunities that skipped one of them are left out of that median). win_rate = won / closed.
with leads as (
    select * from core.fct_lead where created_at < $as_of::timestamp
),

funnel as (
    select
        date_trunc('month', l.created_at)::date as month,
        coalesce(l.channel, '(unknown)') as channel,
        coalesce(l.owner_rep_id, '(unassigned)') as owner_rep_id,
        l.lead_id, l.is_converted, l.days_to_convert,
        o.opportunity_id, o.furthest_stage_order, o.is_won, o.is_lost, o.is_open, o.amount,
        date_diff('second', o.new_at, o.qualified_at) / 86400.0 as new_to_qualified,
        date_diff('second', o.qualified_at, o.proposal_at) / 86400.0 as qualified_to_proposal,
        date_diff('second', o.proposal_at, o.negotiation_at) / 86400.0 as proposal_to_negotiation,
        date_diff('second', o.negotiation_at, o.won_at) / 86400.0 as negotiation_to_won,
        case when o.is_won then o.days_to_close end as days_to_win
    from leads l
    left join core.fct_opportunity o on o.opportunity_id = l.opportunity_id
),

counts as (
    select
        month, channel, owner_rep_id,
        count(*) as leads,
        count(opportunity_id) as opportunities,
        count(*) filter (where furthest_stage_order >= 2) as reached_qualified,
        count(*) filter (where furthest_stage_order >= 3) as reached_proposal,
        count(*) filter (where furthest_stage_order >= 4) as reached_negotiation,
        count(*) filter (where is_won) as won,
        count(*) filter (where is_lost) as lost,
        count(*) filter (where is_open) as open_opportunities,
        median(days_to_convert) as median_days_lead_to_opportunity,
        median(new_to_qualified) as median_days_new_to_qualified,
        median(qualified_to_proposal) as median_days_qualified_to_proposal,
        median(proposal_to_negotiation) as median_days_proposal_to_negotiation,
        median(negotiation_to_won) as median_days_negotiation_to_won,
        median(days_to_win) as median_days_to_win,
        coalesce(sum(amount) filter (where is_open), 0) as open_pipeline_value,
        coalesce(sum(amount) filter (where is_won), 0) as won_value
    from funnel
    group by all
),

final as (
    select
        month, channel, owner_rep_id,
        leads::integer as leads, opportunities::integer as opportunities,
        reached_qualified::integer as reached_qualified, reached_proposal::integer as reached_proposal,
        reached_negotiation::integer as reached_negotiation, won::integer as won, lost::integer as lost,
        open_opportunities::integer as open_opportunities,
        round(opportunities / nullif(leads, 0), 4)::double as lead_to_opportunity_rate,
        round(reached_qualified / nullif(opportunities, 0), 4)::double as opportunity_to_qualified_rate,
        round(reached_proposal / nullif(reached_qualified, 0), 4)::double as qualified_to_proposal_rate,
        round(reached_negotiation / nullif(reached_proposal, 0), 4)::double as proposal_to_negotiation_rate,
        round(won / nullif(reached_negotiation, 0), 4)::double as negotiation_to_won_rate,
        round(won / nullif(leads, 0), 4)::double as lead_to_won_rate,
        round(won / nullif(won + lost, 0), 4)::double as win_rate,
        round(median_days_lead_to_opportunity, 2)::double as median_days_lead_to_opportunity,
        round(median_days_new_to_qualified, 2)::double as median_days_new_to_qualified,
        round(median_days_qualified_to_proposal, 2)::double as median_days_qualified_to_proposal,
        round(median_days_proposal_to_negotiation, 2)::double as median_days_proposal_to_negotiation,
        round(median_days_negotiation_to_won, 2)::double as median_days_negotiation_to_won,
        round(median_days_to_win, 2)::double as median_days_to_win,
        open_pipeline_value::decimal(18, 2) as open_pipeline_value, won_value::decimal(18, 2) as won_value
    from counts
)

select * from final
order by month, channel, owner_rep_id
