"""The questionnaire for one person (docs/domain.md §3): generated from their effective role
profile, one item per competency, or per sub-skill when the framework's granularity is
sub-skill. Each item carries the anchors the profile gives (those of the person's track, in
their family's wording where it has its own), so raters see what each proficiency level means
for an IC or for a manager in that family. A sub-skill item carries the sub-skill's own anchors
read the same way, or the competency's when the sub-skill has none on the person's track.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from libs.events.schemas.framework import SCALE_RANGE, EffectiveRoleProfile, Framework


class Item(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    competency: str
    sub_skill: str | None
    text: str
    target: int | None
    anchors: dict[int, str]


class Questionnaire(BaseModel):
    model_config = ConfigDict(frozen=True)

    framework_id: str
    version: int
    role: str
    scale: list[int]
    items: list[Item]

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)


def questionnaire(
    framework_id: str, version: int, framework: Framework, profile: EffectiveRoleProfile
) -> Questionnaire:
    items: list[Item] = []
    for requirement in profile.requirements:
        competency = framework.competency(requirement.competency)
        if competency is None:
            continue  # a published version has no dangling references; defensive only
        anchors = requirement.anchors
        if anchors is None:  # the role reads its track's common anchors
            anchors = competency.wording(profile.track)
        if framework.granularity == "sub_skill" and competency.sub_skills:
            items += [
                Item(
                    id=f"{competency.key}/{skill.key}",
                    competency=competency.key,
                    sub_skill=skill.key,
                    text=skill.name,
                    target=requirement.target,
                    # its own anchors where it has some for this role, else the competency's
                    anchors=skill.wording(profile.track, profile.family) or anchors,
                )
                for skill in competency.sub_skills
            ]
        else:
            items.append(
                Item(
                    id=competency.key,
                    competency=competency.key,
                    sub_skill=None,
                    text=competency.name,
                    target=requirement.target,
                    anchors=anchors,
                )
            )
    return Questionnaire(
        framework_id=framework_id,
        version=version,
        role=profile.key,
        scale=list(SCALE_RANGE[framework.scale]),
        items=items,
    )
